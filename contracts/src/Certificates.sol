// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IRegistry} from "./interfaces/IRegistry.sol";
import {ICertificates} from "./interfaces/ICertificates.sol";

/// @title Certificates issued by certifiers for lots or participants
/// @notice A CERTIFIER issues a certificate (quality, carbon footprint, recycled content, ...)
///         with a document hash, a validity window and numeric claims, and may revoke it with
///         a reason. Claims live only in the event; storage keeps what the on-chain
///         acceptance check needs (issuer, validity, revocation) in one slot.
/// @dev A subject holds a valid certificate of a type when ANY unrevoked certificate of that
///      type is inside its validity window now: a certificate issued later (expired,
///      future-dated or by another certifier) never hides one that is valid. To keep that
///      check bounded, each (subject, type) keeps the ids of its live certificates (not
///      revoked, not expired) in a short packed list; issuing prunes the dead ones first.
///      At most MAX_LIVE_CERTIFICATES are live at once per (subject, type), and at most
///      MAX_LIVE_PER_ISSUER of them from one issuing key, so no single certifier can fill
///      the list and stop the others from certifying. A certificate already expired when
///      issued is recorded (event and storage) but never live.
contract Certificates is ICertificates {
    enum SubjectKind {
        None,
        Lot,
        Participant
    }

    struct Certificate {
        address issuer;
        uint40 validFrom;
        uint40 validUntil;
        bool revoked;
    }

    uint32 private constant CERTIFIER = 1 << 4;

    /// @notice How many live (unrevoked, unexpired) certificates one (subject, type) holds
    ///         at most; the acceptance check reads at most this many.
    uint256 public constant MAX_LIVE_CERTIFICATES = 8;
    /// @notice How many of them may come from one issuing key (e.g. the current one and its
    ///         renewal).
    uint256 public constant MAX_LIVE_PER_ISSUER = 2;

    /// @notice The registry of participants and lots (the Lots contract).
    IRegistry public immutable registry;
    /// @notice How many certificates were ever issued; ids run from 1.
    uint256 public certificateCount;

    mapping(uint256 certificateId => Certificate) internal _certificates;
    /// @dev Live certificate ids, packed four to a slot, filled from index 0 without gaps.
    mapping(bytes32 subjectAndType => uint64[MAX_LIVE_CERTIFICATES]) internal _live;

    event CertificateIssued(
        uint256 indexed certificateId,
        SubjectKind subjectKind,
        uint256 indexed subject,
        bytes32 indexed certificateType,
        address issuer,
        bytes32 documentHash,
        uint40 validFrom,
        uint40 validUntil,
        bytes32[] claimKeys,
        int256[] claimValues
    );
    /// @notice A certificate was revoked. `issuer` is the key that revoked it: the key that
    ///         issued it or, after a key rotation, a successor of that key (see `revoke`). The
    ///         key that issued it stays in CertificateIssued and `certificate`.
    event CertificateRevoked(uint256 indexed certificateId, address indexed issuer, string reason);

    error InvalidSubject(SubjectKind subjectKind, uint256 subject);
    error UnknownCertificate(uint256 certificateId);
    error InvalidCertificateType();
    error InvalidDocumentHash();
    error InvalidValidity(uint40 validFrom, uint40 validUntil);
    error ClaimsLengthMismatch(uint256 keys, uint256 values);
    error NotCertificateIssuer(uint256 certificateId, address caller);
    error CertificateAlreadyRevoked(uint256 certificateId);
    error TooManyLiveCertificates(SubjectKind subjectKind, uint256 subject, bytes32 certificateType);
    error TooManyLiveCertificatesFromIssuer(
        SubjectKind subjectKind, uint256 subject, bytes32 certificateType, address issuer
    );

    /// @param registry_ The Lots contract, which knows participants, lots and the pause.
    constructor(IRegistry registry_) {
        registry = registry_;
    }

    /// @notice Issues a certificate for a lot or a participant. Unless it is already
    ///         expired, it joins the subject's live certificates of its type (see the
    ///         contract's notes for the limits).
    /// @param subjectKind Lot or Participant.
    /// @param subject The lot id, or the participant's address as uint160.
    /// @param certificateType The type, as a short ASCII string in bytes32 (e.g. "QUALITY").
    /// @param documentHash Hash of the certificate document kept off chain.
    /// @param validFrom First second of validity (unix time).
    /// @param validUntil Last second of validity (unix time); after validFrom.
    /// @param claimKeys Claim names as bytes32 ASCII (e.g. "CO2E_G_PER_UNIT").
    /// @param claimValues Claim values, one per key.
    /// @return certificateId The new certificate's id.
    function issue(
        SubjectKind subjectKind,
        uint256 subject,
        bytes32 certificateType,
        bytes32 documentHash,
        uint40 validFrom,
        uint40 validUntil,
        bytes32[] calldata claimKeys,
        int256[] calldata claimValues
    ) external returns (uint256 certificateId) {
        registry.checkActor(msg.sender, CERTIFIER);
        _checkSubject(subjectKind, subject);
        if (certificateType == bytes32(0)) revert InvalidCertificateType();
        if (documentHash == bytes32(0)) revert InvalidDocumentHash();
        if (validFrom >= validUntil) revert InvalidValidity(validFrom, validUntil);
        if (claimKeys.length != claimValues.length) {
            revert ClaimsLengthMismatch(claimKeys.length, claimValues.length);
        }
        certificateId = ++certificateCount;
        _certificates[certificateId] = Certificate({
            issuer: msg.sender,
            validFrom: validFrom,
            validUntil: validUntil,
            revoked: false
        });
        if (validUntil >= block.timestamp) {
            _addLive(subjectKind, subject, certificateType, certificateId);
        }
        emit CertificateIssued(
            certificateId,
            subjectKind,
            subject,
            certificateType,
            msg.sender,
            documentHash,
            validFrom,
            validUntil,
            claimKeys,
            claimValues
        );
    }

    /// @notice Revokes a certificate. Only its issuer may, or after a key rotation the
    ///         issuer's successor (`IRegistry.actsFor`), while an active certifier. The event
    ///         names the revoking key, so a revocation is attributed to the key that signed it.
    /// @param certificateId The certificate.
    /// @param reason A readable reason, kept in the event.
    function revoke(uint256 certificateId, string calldata reason) external {
        registry.checkActor(msg.sender, CERTIFIER);
        Certificate storage c = _certificates[certificateId];
        address issuer = c.issuer;
        if (issuer == address(0)) revert UnknownCertificate(certificateId);
        // The issuer itself needs no call to the registry: revocation by the issuing key
        // costs what it did before rotation existed.
        if (issuer != msg.sender && !registry.actsFor(issuer, msg.sender)) {
            revert NotCertificateIssuer(certificateId, msg.sender);
        }
        if (c.revoked) revert CertificateAlreadyRevoked(certificateId);
        c.revoked = true;
        emit CertificateRevoked(certificateId, msg.sender, reason);
    }

    /// @notice A certificate's issuer, validity window and revocation flag.
    /// @param certificateId The certificate.
    function certificate(uint256 certificateId)
        external
        view
        returns (address issuer, uint40 validFrom, uint40 validUntil, bool revoked)
    {
        Certificate memory c = _certificates[certificateId];
        if (c.issuer == address(0)) revert UnknownCertificate(certificateId);
        return (c.issuer, c.validFrom, c.validUntil, c.revoked);
    }

    /// @notice A certificate of a type for a subject that is valid now (0 when none): the
    ///         first valid one among its live certificates.
    /// @param subjectKind Lot or Participant.
    /// @param subject The lot id or participant address as uint160.
    /// @param certificateType The certificate type.
    function validCertificate(SubjectKind subjectKind, uint256 subject, bytes32 certificateType)
        public
        view
        returns (uint256)
    {
        uint64[MAX_LIVE_CERTIFICATES] storage live = _live[_key(subjectKind, subject, certificateType)];
        for (uint256 i; i < MAX_LIVE_CERTIFICATES; ++i) {
            uint256 id = live[i];
            if (id == 0) break;
            if (isValid(id)) return id;
        }
        return 0;
    }

    /// @notice The ids a subject's validity for a type is decided from: its certificates of
    ///         that type that were unrevoked and unexpired when last pruned (on issue), in
    ///         issue order. Revoked or expired ones among them no longer count.
    /// @param subjectKind Lot or Participant.
    /// @param subject The lot id or participant address as uint160.
    /// @param certificateType The certificate type.
    function liveCertificates(SubjectKind subjectKind, uint256 subject, bytes32 certificateType)
        external
        view
        returns (uint256[] memory ids)
    {
        uint64[MAX_LIVE_CERTIFICATES] storage live = _live[_key(subjectKind, subject, certificateType)];
        uint256 n;
        while (n < MAX_LIVE_CERTIFICATES && live[n] != 0) ++n;
        ids = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            ids[i] = live[i];
        }
    }

    /// @inheritdoc ICertificates
    function hasValidLotCertificate(uint256 lotId, bytes32 certificateType)
        external
        view
        returns (bool)
    {
        return validCertificate(SubjectKind.Lot, lotId, certificateType) != 0;
    }

    /// @notice Whether a certificate exists, is unrevoked and valid at this block's time.
    /// @param certificateId The certificate (0 is never valid).
    function isValid(uint256 certificateId) public view returns (bool) {
        Certificate memory c = _certificates[certificateId];
        return c.issuer != address(0) && !c.revoked && c.validFrom <= block.timestamp
            && block.timestamp <= c.validUntil;
    }

    function _checkSubject(SubjectKind subjectKind, uint256 subject) private view {
        if (subjectKind == SubjectKind.Lot) {
            if (registry.lotExists(subject)) return;
        } else if (subjectKind == SubjectKind.Participant) {
            if (subject <= type(uint160).max && registry.isRegistered(address(uint160(subject)))) {
                return;
            }
        }
        revert InvalidSubject(subjectKind, subject);
    }

    /// @dev Drops the dead entries (revoked, or expired: neither can become valid again),
    ///      appends `certificateId` and writes the list back only where it changed.
    function _addLive(
        SubjectKind subjectKind,
        uint256 subject,
        bytes32 certificateType,
        uint256 certificateId
    ) private {
        uint64[MAX_LIVE_CERTIFICATES] storage live = _live[_key(subjectKind, subject, certificateType)];
        uint64[MAX_LIVE_CERTIFICATES] memory kept;
        uint256 n;
        uint256 fromIssuer;
        for (uint256 i; i < MAX_LIVE_CERTIFICATES; ++i) {
            uint64 id = live[i];
            if (id == 0) break;
            Certificate memory c = _certificates[id];
            if (c.revoked || c.validUntil < block.timestamp) continue;
            if (c.issuer == msg.sender) ++fromIssuer;
            kept[n++] = id;
        }
        if (n == MAX_LIVE_CERTIFICATES) {
            revert TooManyLiveCertificates(subjectKind, subject, certificateType);
        }
        if (fromIssuer == MAX_LIVE_PER_ISSUER) {
            revert TooManyLiveCertificatesFromIssuer(
                subjectKind, subject, certificateType, msg.sender
            );
        }
        // Ids beyond uint64 would take 2^64 issues; the packing relies on it.
        kept[n] = uint64(certificateId);
        for (uint256 i; i < MAX_LIVE_CERTIFICATES; ++i) {
            if (live[i] != kept[i]) live[i] = kept[i];
            else if (kept[i] == 0) break;
        }
    }

    function _key(SubjectKind subjectKind, uint256 subject, bytes32 certificateType)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(subjectKind, subject, certificateType));
    }
}
