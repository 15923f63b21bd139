// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IRegistry} from "./interfaces/IRegistry.sol";
import {ICertificates} from "./interfaces/ICertificates.sol";

/// @title Certificates issued by certifiers for lots or participants
/// @notice A CERTIFIER issues a certificate (quality, carbon footprint, recycled content, ...)
///         with a document hash, a validity window and numeric claims, and may revoke it with
///         a reason. Claims live only in the event; storage keeps what the on-chain
///         acceptance check needs (issuer, validity, revocation) in one slot.
/// @dev For each (subject, type) the most recently issued certificate decides validity: a
///      certifier renews by issuing a new one, and a revoked latest certificate means "no
///      valid certificate" even if an older one had not expired.
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

    /// @notice The registry of participants and lots (the Lots contract).
    IRegistry public immutable registry;
    /// @notice How many certificates were ever issued; ids run from 1.
    uint256 public certificateCount;

    mapping(uint256 certificateId => Certificate) internal _certificates;
    mapping(bytes32 subjectAndType => uint256 certificateId) internal _latest;

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

    /// @param registry_ The Lots contract, which knows participants, lots and the pause.
    constructor(IRegistry registry_) {
        registry = registry_;
    }

    /// @notice Issues a certificate for a lot or a participant.
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
        _latest[_key(subjectKind, subject, certificateType)] = certificateId;
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

    /// @notice The most recent certificate of a type for a subject (0 when none).
    /// @param subjectKind Lot or Participant.
    /// @param subject The lot id or participant address as uint160.
    /// @param certificateType The certificate type.
    function latestCertificate(SubjectKind subjectKind, uint256 subject, bytes32 certificateType)
        external
        view
        returns (uint256)
    {
        return _latest[_key(subjectKind, subject, certificateType)];
    }

    /// @inheritdoc ICertificates
    function hasValidLotCertificate(uint256 lotId, bytes32 certificateType)
        external
        view
        returns (bool)
    {
        return isValid(_latest[_key(SubjectKind.Lot, lotId, certificateType)]);
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

    function _key(SubjectKind subjectKind, uint256 subject, bytes32 certificateType)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(subjectKind, subject, certificateType));
    }
}
