// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {Participants} from "./Participants.sol";
import {ICertificates} from "./interfaces/ICertificates.sol";
import {IRegistry} from "./interfaces/IRegistry.sol";

/// @title Lots: material as ERC-1155 tokens whose custody moves only by handoff
/// @notice A lot is an ERC-1155 id; its balance is the quantity in base units (g, pieces)
///         held by each participant. Custody moves by a two-sided handoff: the sender's
///         quantity goes into an escrow account derived from the handoff's terms and the
///         receiver accepts (or rejects) it. Bundles lock lots into a bundle lot; transformations
///         consume inputs and mint outputs. After a key rotation the old key moves its holdings
///         to its successor (same organisation, no handoff). Plain ERC-1155 transfers and
///         approvals are refused.
/// @dev Escrow accounts are addresses derived by hashing a handoff's (or bundle's) terms. No key
///      exists for them; only this contract moves their balances. Keeping the escrow in the
///      ERC-1155 balance of a per-handoff account means one storage slot per open handoff both
///      holds the quantity and binds the terms (id, sender, receiver, lot), and every balance
///      change is visible as an ordinary TransferSingle/TransferBatch event.
contract Lots is ERC1155, Participants {
    enum LotKind {
        None,
        RawMaterial,
        Component,
        Product,
        Bundle
    }

    /// @notice In what capacity a quarantine was set (see `setQuarantine`).
    enum QuarantineAuthority {
        None,
        Reporter,
        Certifier,
        Custodian
    }

    struct Lot {
        LotKind kind;
        bool quarantined;
        /// @dev The quantity in existence: registered, less what transformations consumed (a
        ///      bundle: 1 until opened). It lets a custodian show that it holds all of a lot.
        ///      Packed into the slot every handoff reads anyway, so keeping it costs nothing
        ///      there; uint240 bounds a lot's quantity (QuantityTooLarge).
        uint240 quantity;
    }

    /// @notice One output of a transformation, registered as a new lot held by the caller.
    struct OutputLot {
        uint256 lotId;
        uint256 quantity;
        LotKind kind;
        bytes32 metadataHash;
        bytes32 gs1KeyHash;
    }

    bytes32 private constant HANDOFF_ESCROW = keccak256("provenant.handoff.escrow");
    bytes32 private constant BUNDLE_ESCROW = keccak256("provenant.bundle.escrow");

    mapping(uint256 lotId => Lot) internal _lots;
    mapping(uint256 bundleId => bytes32 contentsHash) internal _bundleContents;
    /// @dev Who set a lot's current quarantine: only it (or a key it was rotated to), an
    ///      AUDITOR or an ADMIN_ROLE holder may lift it. Zero while not quarantined.
    mapping(uint256 lotId => address setBy) internal _quarantinedBy;
    ICertificates public certificates;

    // Quarantine reaches through bundles.
    //
    // A closed bundle holding a quarantined lot at any depth (bundles of bundles) cannot be
    // handed off (initiated or accepted) or packed into another bundle until the quarantine
    // is lifted; the refusal names the quarantined lot, LotQuarantined(lotId). The contract
    // keeps only a hash of a bundle's contents and a handoff must not walk a bundle tree, so
    // the answer is kept up to date when a quarantine is set or lifted (rare) and read in one
    // storage slot when a bundle is handed off (a material lot's handoff reads nothing more):
    //
    // - `_within[b].count`: how many quarantined lots closed bundle `b` holds at any depth
    //   (once per link on the way down: a lot packed in two pallets of one container counts
    //   twice for the container).
    // - Links upward, written by `bundle`. A bundle is one token, so it sits in at most one
    //   closed bundle: `_parentBundle[b]`. A material lot's quantity can be split over many
    //   closed bundles: `_lastBundleOf[lot]` and `_earlierBundleOf[b][lot]` chain every bundle
    //   it was packed into, newest first. A link is live while that bundle is closed (non-zero
    //   contents hash): a closed bundle's contents cannot change (the tokens inside are held
    //   by its escrow, which only `unbundle` empties), and an opened bundle never closes again
    //   (ids are never reused). A quarantine's walk drops the dead links it meets.
    // - `setQuarantine` / `clearQuarantine` walk the live links up from the lot and add or
    //   subtract one at every bundle on the way. Setting also lists the lot in `_withinLots[b]`
    //   so that a refusal can name it; the list is emptied when the count returns to zero,
    //   and until then a refusal names the latest listed lot that is still quarantined.
    // - Nothing quarantined enters a bundle: `bundle` refuses a quarantined lot and a bundle
    //   holding one. So a new bundle starts at zero, and the bundles above a quarantined lot
    //   can only leave (be opened) until it is lifted: the lift subtracts on exactly the
    //   bundles the quarantine added to that are still closed. The holder may still open a
    //   bundle holding a quarantined lot (`unbundle` releases the contents to the caller, not
    //   to another party): the quarantined lot stays quarantined in its hands, the rest is
    //   free to move, and the opened bundle's count is dropped.
    //
    // Cost: `bundle` writes one link per packed lot (a new slot the first time a lot is
    // packed); `setQuarantine` and `clearQuarantine` pay one count (and one list entry) per
    // enclosing bundle; a material lot's handoff pays nothing, a bundle's one storage read.
    // Storage is appended after the existing variables (the contract is not behind a proxy;
    // the order keeps that option open).

    /// @dev Quarantined lots inside a closed bundle, at any depth (see above).
    struct QuarantinedWithin {
        uint128 count;
        uint128 listed;
    }

    mapping(uint256 lotId => uint256 bundleId) internal _lastBundleOf;
    mapping(uint256 bundleId => mapping(uint256 lotId => uint256 earlierBundleId)) internal
        _earlierBundleOf;
    mapping(uint256 bundleId => uint256 parentBundleId) internal _parentBundle;
    mapping(uint256 bundleId => QuarantinedWithin) internal _within;
    mapping(uint256 bundleId => mapping(uint256 index => uint256 lotId)) internal _withinLots;

    event LotRegistered(
        uint256 indexed lotId,
        address indexed owner,
        LotKind kind,
        uint256 quantity,
        bytes32 metadataHash,
        bytes32 gs1KeyHash
    );
    event HandoffInitiated(
        uint256 indexed handoffId,
        uint256 indexed lotId,
        address indexed sender,
        address receiver,
        uint256 quantity,
        address escrow
    );
    event HandoffAccepted(
        uint256 indexed handoffId,
        uint256 indexed lotId,
        address indexed sender,
        address receiver,
        uint256 quantity
    );
    event HandoffRejected(
        uint256 indexed handoffId,
        uint256 indexed lotId,
        address indexed sender,
        address receiver,
        uint256 quantity,
        string reason
    );
    event HandoffCancelled(
        uint256 indexed handoffId,
        uint256 indexed lotId,
        address indexed sender,
        address receiver,
        uint256 quantity
    );
    event LotsBundled(
        uint256 indexed bundleId,
        address indexed holder,
        uint256[] lotIds,
        uint256[] quantities,
        address escrow
    );
    event LotsUnbundled(
        uint256 indexed bundleId, address indexed holder, uint256[] lotIds, uint256[] quantities
    );
    event LotsTransformed(
        uint256 indexed transformationId,
        address indexed actor,
        uint256[] inputIds,
        uint256[] inputQuantities,
        uint256[] outputIds,
        uint256[] outputQuantities,
        bytes32 processHash
    );
    /// @notice `by` quarantined lot `lotId` as a REPORTER, a CERTIFIER or the custodian of
    ///         all of the lot's quantity (`authority`).
    event QuarantineSet(
        uint256 indexed lotId, address indexed by, QuarantineAuthority authority, string reason
    );
    /// @notice `by` lifted the quarantine that `setBy` had set: `by` is `setBy` (or a key it
    ///         was rotated to), an AUDITOR or an ADMIN_ROLE holder.
    event QuarantineCleared(
        uint256 indexed lotId, address indexed by, address indexed setBy, string reason
    );
    event CertificatesContractSet(address certificates);
    /// @notice `from`'s whole balance of each lot moved to its successor `to` (the same
    ///         organisation under a rotated key). The balances move in the ERC-1155 transfer
    ///         event that follows (TransferSingle for one lot, TransferBatch for several);
    ///         this event says why custody changed without a handoff.
    event HoldingsMigrated(
        address indexed from, address indexed to, uint256[] lotIds, uint256[] quantities
    );

    error DirectTransfersDisabled();
    error InvalidLotId();
    error InvalidLotKind(LotKind kind);
    error ZeroQuantity();
    error LotAlreadyExists(uint256 lotId);
    error UnknownLot(uint256 lotId);
    error LotQuarantined(uint256 lotId);
    error SelfHandoff();
    error HandoffNotOpen(uint256 handoffId);
    error NotHandoffReceiver(uint256 handoffId, address caller);
    error NotHandoffSender(uint256 handoffId, address caller);
    error MissingValidCertificate(uint256 lotId, bytes32 certificateType);
    error CertificatesContractNotSet();
    error EmptyList();
    error LengthMismatch(uint256 ids, uint256 quantities);
    error NotABundle(uint256 lotId);
    error BundleNotTransformable(uint256 lotId);
    error NotLotHolder(uint256 lotId, address account);
    error BundleContentsMismatch(uint256 bundleId);
    error NotQuarantineAuthority(uint256 lotId, address account);
    error NotQuarantineSetter(uint256 lotId, address setBy, address account);
    error EmptyReason();
    error QuantityTooLarge(uint256 quantity);
    error NotQuarantined(uint256 lotId);
    error AlreadyQuarantined(uint256 lotId);
    error NoSuccessor(address account);
    error LotIdsNotAscending(uint256 index);

    /// @param admin The consortium's first default admin; also receives ADMIN_ROLE.
    /// @param adminTransferDelay Seconds a default-admin transfer waits before it can complete.
    constructor(address admin, uint48 adminTransferDelay)
        ERC1155("")
        Participants(admin, adminTransferDelay)
    {}

    // ----------------------------------------------------------------------------- lots

    /// @notice Registers a new lot of material and mints its whole quantity to the caller.
    /// @param lotId The new lot's id (non-zero, never used before).
    /// @param quantity The quantity in base units (grams, pieces).
    /// @param kind RawMaterial, Component or Product (bundles come from `bundle`).
    /// @param metadataHash Hash of the off-chain metadata document.
    /// @param gs1KeyHash Hash of the lot's GS1 key (GTIN + lot/serial, or SSCC).
    function registerLot(
        uint256 lotId,
        uint256 quantity,
        LotKind kind,
        bytes32 metadataHash,
        bytes32 gs1KeyHash
    ) external {
        _requireRunning();
        _requireActor(msg.sender, MINER | MANUFACTURER);
        _checkMaterialKind(kind);
        _createLot(lotId, quantity, kind, metadataHash, gs1KeyHash, msg.sender);
    }

    // ------------------------------------------------------------------------- handoffs

    /// @notice Offers `quantity` of lot `lotId` to `receiver`; the quantity moves into the
    ///         handoff's escrow account until the receiver accepts or rejects it or the
    ///         caller cancels it.
    /// @param lotId The lot (or bundle) to hand off.
    /// @param receiver An active custodian participant.
    /// @param quantity The quantity to hand off (at most the caller's balance).
    /// @return handoffId The new handoff's id, also in the HandoffInitiated event.
    function initiateHandoff(uint256 lotId, address receiver, uint256 quantity)
        external
        returns (uint256 handoffId)
    {
        Sequences memory seq = _sequences;
        if (seq.paused) revert SystemPaused();
        _requireActor(msg.sender, CUSTODIANS);
        _requireActor(receiver, CUSTODIANS);
        if (receiver == msg.sender) revert SelfHandoff();
        if (quantity == 0) revert ZeroQuantity();
        Lot storage lot = _lots[lotId];
        (LotKind kind, bool quarantined) = (lot.kind, lot.quarantined);
        if (kind == LotKind.None) revert UnknownLot(lotId);
        if (quarantined) revert LotQuarantined(lotId);
        if (kind == LotKind.Bundle) _requireNothingQuarantinedInside(lotId);

        handoffId = uint256(seq.handoffs) + 1;
        _sequences.handoffs = uint64(handoffId);
        address escrow = handoffEscrow(handoffId, msg.sender, receiver);
        emit HandoffInitiated(handoffId, lotId, msg.sender, receiver, quantity, escrow);
        _move(msg.sender, escrow, lotId, quantity);
    }

    /// @notice The receiver takes custody of the escrowed quantity. If the receiver declared
    ///         an acceptance policy, the lot must carry a valid certificate of that type.
    /// @param handoffId The handoff's id.
    /// @param lotId The lot named in HandoffInitiated.
    /// @param sender The sender named in HandoffInitiated.
    /// @param receiver The receiver named in HandoffInitiated; must be the caller.
    function acceptHandoff(uint256 handoffId, uint256 lotId, address sender, address receiver)
        external
    {
        _requireRunning();
        if (msg.sender != receiver) revert NotHandoffReceiver(handoffId, msg.sender);
        Participant memory p = _requireActor(msg.sender, CUSTODIANS);
        (address escrow, uint256 quantity) = _openHandoff(handoffId, lotId, sender, receiver);
        // Quarantined while in transit: the receiver may reject, the sender may cancel, but
        // custody of quarantined material does not move, in a bundle or not.
        Lot storage lot = _lots[lotId];
        (LotKind kind, bool quarantined) = (lot.kind, lot.quarantined);
        if (quarantined) revert LotQuarantined(lotId);
        if (kind == LotKind.Bundle) _requireNothingQuarantinedInside(lotId);
        if (p.hasAcceptancePolicy) _checkAcceptancePolicy(receiver, lotId);
        emit HandoffAccepted(handoffId, lotId, sender, receiver, quantity);
        _move(escrow, receiver, lotId, quantity);
    }

    /// @notice The receiver refuses the handoff; the escrowed quantity returns to the sender.
    /// @param handoffId The handoff's id.
    /// @param lotId The lot named in HandoffInitiated.
    /// @param sender The sender named in HandoffInitiated.
    /// @param receiver The receiver named in HandoffInitiated; must be the caller.
    /// @param reason A readable reason, kept in the event.
    function rejectHandoff(
        uint256 handoffId,
        uint256 lotId,
        address sender,
        address receiver,
        string calldata reason
    ) external {
        _requireRunning();
        if (msg.sender != receiver) revert NotHandoffReceiver(handoffId, msg.sender);
        _requireActor(msg.sender, CUSTODIANS);
        (address escrow, uint256 quantity) = _openHandoff(handoffId, lotId, sender, receiver);
        emit HandoffRejected(handoffId, lotId, sender, receiver, quantity, reason);
        _move(escrow, sender, lotId, quantity);
    }

    /// @notice The sender withdraws a handoff that was not yet accepted or rejected.
    /// @param handoffId The handoff's id.
    /// @param lotId The lot named in HandoffInitiated.
    /// @param sender The sender named in HandoffInitiated; must be the caller.
    /// @param receiver The receiver named in HandoffInitiated.
    function cancelHandoff(uint256 handoffId, uint256 lotId, address sender, address receiver)
        external
    {
        _requireRunning();
        if (msg.sender != sender) revert NotHandoffSender(handoffId, msg.sender);
        _requireActor(msg.sender, CUSTODIANS);
        (address escrow, uint256 quantity) = _openHandoff(handoffId, lotId, sender, receiver);
        emit HandoffCancelled(handoffId, lotId, sender, receiver, quantity);
        _move(escrow, sender, lotId, quantity);
    }

    // -------------------------------------------------------------------------- bundles

    /// @notice Locks quantities of lots the caller holds into a new bundle lot (quantity 1)
    ///         held by the caller. Whoever holds the bundle holds its contents: a handoff of
    ///         the bundle moves custody of everything inside. Bundles may contain bundles. A
    ///         quarantined lot, or a bundle holding one at any depth, cannot be packed.
    /// @param bundleId The new bundle's lot id.
    /// @param lotIds The lots to pack.
    /// @param quantities The quantity of each lot to pack.
    /// @param metadataHash Hash of the packing list document.
    /// @param gs1KeyHash Hash of the bundle's GS1 key (typically an SSCC).
    function bundle(
        uint256 bundleId,
        uint256[] calldata lotIds,
        uint256[] calldata quantities,
        bytes32 metadataHash,
        bytes32 gs1KeyHash
    ) external {
        _requireRunning();
        _requireActor(msg.sender, CUSTODIANS);
        _checkLotList(lotIds, quantities);
        _createLot(bundleId, 1, LotKind.Bundle, metadataHash, gs1KeyHash, msg.sender);
        _linkToBundle(bundleId, lotIds);
        _bundleContents[bundleId] = keccak256(abi.encode(lotIds, quantities));
        address escrow = bundleEscrow(bundleId);
        emit LotsBundled(bundleId, msg.sender, lotIds, quantities, escrow);
        _update(msg.sender, escrow, lotIds, quantities);
    }

    /// @notice Opens a bundle the caller holds: the bundle token is burnt and its contents
    ///         are released to the caller. The contents must be listed exactly as bundled.
    ///         A quarantined bundle cannot be opened. A bundle holding a quarantined lot can:
    ///         its holder takes the contents out, the quarantined lot stays quarantined (it
    ///         cannot be handed off or packed again) and the rest may move.
    /// @param bundleId The bundle's lot id.
    /// @param lotIds The lots in the bundle, as in LotsBundled.
    /// @param quantities Their quantities, as in LotsBundled.
    function unbundle(uint256 bundleId, uint256[] calldata lotIds, uint256[] calldata quantities)
        external
    {
        _requireRunning();
        _requireActor(msg.sender, CUSTODIANS);
        Lot memory lot = _lots[bundleId];
        if (lot.kind != LotKind.Bundle) revert NotABundle(bundleId);
        if (balanceOf(msg.sender, bundleId) == 0) revert NotLotHolder(bundleId, msg.sender);
        // Opening a quarantined bundle would let its contents escape the quarantine.
        if (lot.quarantined) revert LotQuarantined(bundleId);
        if (_bundleContents[bundleId] != keccak256(abi.encode(lotIds, quantities))) {
            revert BundleContentsMismatch(bundleId);
        }
        delete _bundleContents[bundleId];
        _lots[bundleId].quantity = 0;
        if (_within[bundleId].count != 0) delete _within[bundleId];
        emit LotsUnbundled(bundleId, msg.sender, lotIds, quantities);
        _move(msg.sender, address(0), bundleId, 1);
        _update(bundleEscrow(bundleId), msg.sender, lotIds, quantities);
    }

    // --------------------------------------------------------------------- key rotation

    /// @notice After a key rotation, the old key moves its whole balance of each listed lot
    ///         to its successor. No handoff and no acceptance check: custody stays with the
    ///         same organisation. A bundle moves like any lot (its contents stay in the bundle
    ///         escrow, so they follow the bundle token); a quarantined lot moves too and stays
    ///         quarantined, so it is not stranded with a key about to be retired. Quantities
    ///         in open handoffs are in escrow, not held: they are settled by the handoff.
    /// @param lotIds The lots to move, in strictly ascending order (which rules out
    ///        duplicates in one pass); the caller must hold each. Lists that do not fit one
    ///        transaction are migrated in several calls.
    function migrateHoldings(uint256[] calldata lotIds) external {
        _requireRunning();
        _requireActor(msg.sender, CUSTODIANS);
        address successor = _successors[msg.sender];
        if (successor == address(0)) revert NoSuccessor(msg.sender);
        if (lotIds.length == 0) revert EmptyList();
        uint256[] memory quantities = new uint256[](lotIds.length);
        uint256 previous;
        for (uint256 i; i < lotIds.length; ++i) {
            uint256 lotId = lotIds[i];
            if (i != 0 && lotId <= previous) revert LotIdsNotAscending(i);
            previous = lotId;
            uint256 held = balanceOf(msg.sender, lotId);
            if (held == 0) revert NotLotHolder(lotId, msg.sender);
            quantities[i] = held;
        }
        emit HoldingsMigrated(msg.sender, successor, lotIds, quantities);
        _update(msg.sender, successor, lotIds, quantities);
    }

    // ------------------------------------------------------------------- transformations

    /// @notice Consumes quantities of input lots the caller holds and registers output lots
    ///         held by the caller. Every input feeds every output: the event lists both sides
    ///         with their quantities, which is the lineage graph's edge set.
    /// @param inputIds The lots consumed.
    /// @param inputQuantities The quantity consumed of each input.
    /// @param outputs The lots produced (new ids, material kinds).
    /// @param processHash Hash of the off-chain process record (process data, emissions).
    /// @return transformationId The new transformation's id, also in LotsTransformed.
    function transform(
        uint256[] calldata inputIds,
        uint256[] calldata inputQuantities,
        OutputLot[] calldata outputs,
        bytes32 processHash
    ) external returns (uint256 transformationId) {
        Sequences memory seq = _sequences;
        if (seq.paused) revert SystemPaused();
        _requireActor(msg.sender, MINER | MANUFACTURER);
        _checkLotList(inputIds, inputQuantities);
        for (uint256 i; i < inputIds.length; ++i) {
            // A bundle is not material: consuming its token would strand its contents.
            if (_lots[inputIds[i]].kind == LotKind.Bundle) revert BundleNotTransformable(inputIds[i]);
        }
        if (outputs.length == 0) revert EmptyList();

        transformationId = uint256(seq.transformations) + 1;
        _sequences.transformations = uint64(transformationId);
        // Burning first makes "inputs the caller does not hold" fail with OpenZeppelin's
        // ERC1155InsufficientBalance before anything is minted.
        _update(msg.sender, address(0), inputIds, inputQuantities);
        for (uint256 i; i < inputIds.length; ++i) {
            // The burn succeeded, so the quantity was at most the lot's (which fits uint240).
            _lots[inputIds[i]].quantity -= uint240(inputQuantities[i]);
        }

        uint256[] memory outputIds = new uint256[](outputs.length);
        uint256[] memory outputQuantities = new uint256[](outputs.length);
        for (uint256 i; i < outputs.length; ++i) {
            OutputLot calldata out = outputs[i];
            _checkMaterialKind(out.kind);
            _createLot(out.lotId, out.quantity, out.kind, out.metadataHash, out.gs1KeyHash, msg.sender);
            outputIds[i] = out.lotId;
            outputQuantities[i] = out.quantity;
        }
        emit LotsTransformed(
            transformationId,
            msg.sender,
            inputIds,
            inputQuantities,
            outputIds,
            outputQuantities,
            processHash
        );
    }

    // ----------------------------------------------------------------------- conditions

    /// @notice Puts a lot in quarantine: it cannot be handed off (initiated or accepted),
    ///         bundled, unbundled or transformed until cleared. The flag covers the whole lot
    ///         id, for every holder, so only these may set it: a REPORTER or a CERTIFIER (any
    ///         lot), or the custodian of all of the lot's quantity (it holds every unit in
    ///         existence: none with another party, none in an open handoff). A custodian of
    ///         part of a lot cannot stop the others' parts; it asks a REPORTER or CERTIFIER.
    ///         The quarantine reaches through bundles: every closed bundle holding part of
    ///         the lot, at any depth, cannot be handed off or packed until it is lifted
    ///         (see "Quarantine reaches through bundles" at the top).
    /// @param lotId The lot.
    /// @param reason A readable, non-empty reason (e.g. the IoT rule that fired), kept in
    ///        the event.
    function setQuarantine(uint256 lotId, string calldata reason) external {
        _requireRunning();
        if (bytes(reason).length == 0) revert EmptyReason();
        Participant memory p = _activeParticipant(msg.sender);
        Lot storage lot = _lots[lotId];
        if (lot.kind == LotKind.None) revert UnknownLot(lotId);
        QuarantineAuthority authority;
        if (p.roles & REPORTER != 0) {
            authority = QuarantineAuthority.Reporter;
        } else if (p.roles & CERTIFIER != 0) {
            authority = QuarantineAuthority.Certifier;
        } else if (_holdsAll(msg.sender, lotId, lot.quantity)) {
            authority = QuarantineAuthority.Custodian;
        } else {
            revert NotQuarantineAuthority(lotId, msg.sender);
        }
        if (lot.quarantined) revert AlreadyQuarantined(lotId);
        lot.quarantined = true;
        _quarantinedBy[lotId] = msg.sender;
        _countInEnclosingBundles(lotId, lot.kind, true);
        emit QuarantineSet(lotId, msg.sender, authority, reason);
    }

    /// @notice Lifts a lot's quarantine. Only whoever set it may (or, after a key rotation,
    ///         a successor of that key), or as an override an active AUDITOR or an ADMIN_ROLE
    ///         holder. The event names both who set and who lifted it.
    /// @param lotId The lot.
    /// @param reason A readable, non-empty reason, kept in the event.
    function clearQuarantine(uint256 lotId, string calldata reason) external {
        _requireRunning();
        if (bytes(reason).length == 0) revert EmptyReason();
        Lot storage lot = _lots[lotId];
        if (lot.kind == LotKind.None) revert UnknownLot(lotId);
        if (!lot.quarantined) revert NotQuarantined(lotId);
        address setBy = _quarantinedBy[lotId];
        if (!hasRole(ADMIN_ROLE, msg.sender)) {
            Participant memory p = _activeParticipant(msg.sender);
            if (p.roles & AUDITOR == 0 && !actsFor(setBy, msg.sender)) {
                revert NotQuarantineSetter(lotId, setBy, msg.sender);
            }
        }
        lot.quarantined = false;
        delete _quarantinedBy[lotId];
        _countInEnclosingBundles(lotId, lot.kind, false);
        emit QuarantineCleared(lotId, msg.sender, setBy, reason);
    }

    // -------------------------------------------------------------------- administration

    /// @notice Points the acceptance-policy check at the Certificates contract.
    /// @param certificates_ The deployed Certificates contract.
    function setCertificatesContract(address certificates_) external onlyRole(ADMIN_ROLE) {
        if (certificates_ == address(0)) revert ZeroAddress();
        certificates = ICertificates(certificates_);
        emit CertificatesContractSet(certificates_);
    }

    // ---------------------------------------------------------- ERC-1155 transfers refused

    /// @notice Refused: custody moves only by handoff.
    function safeTransferFrom(address, address, uint256, uint256, bytes memory)
        public
        pure
        override
    {
        revert DirectTransfersDisabled();
    }

    /// @notice Refused: custody moves only by handoff.
    function safeBatchTransferFrom(
        address,
        address,
        uint256[] memory,
        uint256[] memory,
        bytes memory
    ) public pure override {
        revert DirectTransfersDisabled();
    }

    /// @notice Refused: there are no operators; custody moves only by handoff.
    function setApprovalForAll(address, bool) public pure override {
        revert DirectTransfersDisabled();
    }

    // ----------------------------------------------------------------------------- views

    /// @notice A lot's kind, quarantine state and quantity in existence (kind None: no such
    ///         lot).
    /// @param lotId The lot.
    /// @return kind The lot's kind.
    /// @return quarantined Whether it is quarantined.
    /// @return quarantinedBy Who set the quarantine (zero when not quarantined).
    /// @return quantity Registered, less what transformations consumed (0 for an opened bundle).
    function lot(uint256 lotId)
        external
        view
        returns (LotKind kind, bool quarantined, address quarantinedBy, uint256 quantity)
    {
        Lot memory l = _lots[lotId];
        return (l.kind, l.quarantined, _quarantinedBy[lotId], l.quantity);
    }

    /// @inheritdoc IRegistry
    function lotExists(uint256 lotId) external view override returns (bool) {
        return _lots[lotId].kind != LotKind.None;
    }

    /// @notice Hash of an unopened bundle's contents, abi.encode(lotIds, quantities); zero
    ///         once opened.
    /// @param bundleId The bundle.
    function bundleContentsHash(uint256 bundleId) external view returns (bytes32) {
        return _bundleContents[bundleId];
    }

    /// @notice A quarantined lot inside a closed bundle, at any depth: while there is one, the
    ///         bundle cannot be handed off or packed. Zero when there is none (or `bundleId`
    ///         is not a closed bundle). The bundle's own quarantine is in `lot`.
    /// @param bundleId The bundle.
    function quarantinedLotInside(uint256 bundleId) external view returns (uint256) {
        return _quarantinedLotInside(bundleId);
    }

    /// @notice How many handoffs and transformations were ever started.
    function counts() external view returns (uint64 handoffs, uint64 transformations) {
        Sequences memory seq = _sequences;
        return (seq.handoffs, seq.transformations);
    }

    /// @notice The escrow account of a handoff: its balance of the lot is the open quantity.
    /// @param handoffId The handoff's id.
    /// @param sender The sender.
    /// @param receiver The receiver.
    function handoffEscrow(uint256 handoffId, address sender, address receiver)
        public
        pure
        returns (address)
    {
        return address(
            uint160(uint256(keccak256(abi.encode(HANDOFF_ESCROW, handoffId, sender, receiver))))
        );
    }

    /// @notice The escrow account that holds a bundle's contents while it is closed.
    /// @param bundleId The bundle.
    function bundleEscrow(uint256 bundleId) public pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode(BUNDLE_ESCROW, bundleId)))));
    }

    /// @inheritdoc ERC1155
    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC1155, AccessControlDefaultAdminRules)
        returns (bool)
    {
        return super.supportsInterface(interfaceId);
    }

    // -------------------------------------------------------------------------- internals

    function _createLot(
        uint256 lotId,
        uint256 quantity,
        LotKind kind,
        bytes32 metadataHash,
        bytes32 gs1KeyHash,
        address owner
    ) private {
        if (lotId == 0) revert InvalidLotId();
        if (quantity == 0) revert ZeroQuantity();
        if (quantity > type(uint240).max) revert QuantityTooLarge(quantity);
        if (_lots[lotId].kind != LotKind.None) revert LotAlreadyExists(lotId);
        _lots[lotId] = Lot({kind: kind, quarantined: false, quantity: uint240(quantity)});
        emit LotRegistered(lotId, owner, kind, quantity, metadataHash, gs1KeyHash);
        _move(address(0), owner, lotId, quantity);
    }

    /// @dev Returns the escrow and its balance; an empty escrow means the terms name no open
    ///      handoff (never initiated, or already accepted, rejected or cancelled).
    function _openHandoff(uint256 handoffId, uint256 lotId, address sender, address receiver)
        private
        view
        returns (address escrow, uint256 quantity)
    {
        escrow = handoffEscrow(handoffId, sender, receiver);
        quantity = balanceOf(escrow, lotId);
        if (quantity == 0) revert HandoffNotOpen(handoffId);
    }

    function _checkAcceptancePolicy(address receiver, uint256 lotId) private view {
        bytes32 required = _acceptancePolicy[receiver];
        ICertificates registry = certificates;
        if (address(registry) == address(0)) revert CertificatesContractNotSet();
        if (!registry.hasValidLotCertificate(lotId, required)) {
            revert MissingValidCertificate(lotId, required);
        }
    }

    /// @dev Validates a list of (lot, quantity) pairs to be moved: non-empty, same length,
    ///      positive quantities, known and not quarantined lots. Balances are checked by the
    ///      ERC-1155 update itself.
    function _checkLotList(uint256[] calldata lotIds, uint256[] calldata quantities)
        private
        view
    {
        if (lotIds.length == 0) revert EmptyList();
        if (lotIds.length != quantities.length) {
            revert LengthMismatch(lotIds.length, quantities.length);
        }
        for (uint256 i; i < lotIds.length; ++i) {
            if (quantities[i] == 0) revert ZeroQuantity();
            Lot memory l = _lots[lotIds[i]];
            if (l.kind == LotKind.None) revert UnknownLot(lotIds[i]);
            if (l.quarantined) revert LotQuarantined(lotIds[i]);
        }
    }

    /// @dev Refuses a bundle that holds a quarantined lot, naming that lot.
    function _requireNothingQuarantinedInside(uint256 bundleId) private view {
        if (_within[bundleId].count != 0) revert LotQuarantined(_quarantinedLotInside(bundleId));
    }

    function _quarantinedLotInside(uint256 bundleId) private view returns (uint256) {
        QuarantinedWithin memory w = _within[bundleId];
        if (w.count == 0) return 0;
        for (uint256 i = w.listed; i != 0; --i) {
            uint256 lotId = _withinLots[bundleId][i - 1];
            if (_lots[lotId].quarantined) return lotId;
        }
        return bundleId; // not reached: a non-zero count has a quarantined lot listed
    }

    /// @dev Links each packed lot up to the new bundle, and refuses a bundle holding a
    ///      quarantined lot (the lots' own flags were checked by `_checkLotList`). A lot listed
    ///      twice is linked once.
    function _linkToBundle(uint256 bundleId, uint256[] calldata lotIds) private {
        for (uint256 i; i < lotIds.length; ++i) {
            uint256 lotId = lotIds[i];
            if (_lots[lotId].kind == LotKind.Bundle) {
                _requireNothingQuarantinedInside(lotId);
                _parentBundle[lotId] = bundleId;
            } else {
                uint256 last = _lastBundleOf[lotId];
                if (last == bundleId) continue;
                if (last != 0) _earlierBundleOf[bundleId][lotId] = last;
                _lastBundleOf[lotId] = bundleId;
            }
        }
    }

    /// @dev Adds (`set`) or subtracts one quarantined lot at every closed bundle above
    ///      `lotId`, dropping the dead links of a material lot's chain on the way.
    function _countInEnclosingBundles(uint256 lotId, LotKind kind, bool set) private {
        if (kind == LotKind.Bundle) {
            _countUp(_parentBundle[lotId], lotId, set);
            return;
        }
        uint256 previous;
        uint256 current = _lastBundleOf[lotId];
        while (current != 0) {
            uint256 earlier = _earlierBundleOf[current][lotId];
            if (_bundleContents[current] != 0) {
                _countUp(current, lotId, set);
                previous = current;
            } else {
                if (previous == 0) _lastBundleOf[lotId] = earlier;
                else _earlierBundleOf[previous][lotId] = earlier;
                if (earlier != 0) delete _earlierBundleOf[current][lotId];
            }
            current = earlier;
        }
    }

    /// @dev From closed bundle `bundleId` up through the bundles that hold it.
    function _countUp(uint256 bundleId, uint256 lotId, bool set) private {
        while (bundleId != 0 && _bundleContents[bundleId] != 0) {
            QuarantinedWithin memory w = _within[bundleId];
            if (set) {
                _withinLots[bundleId][w.listed] = lotId;
                _within[bundleId] = QuarantinedWithin(w.count + 1, w.listed + 1);
            } else if (w.count <= 1) {
                delete _within[bundleId];
            } else {
                _within[bundleId].count = w.count - 1;
            }
            bundleId = _parentBundle[bundleId];
        }
    }

    function _activeParticipant(address account) private view returns (Participant memory p) {
        p = _participants[account];
        if (!p.registered) revert UnknownParticipant(account);
        if (!p.active) revert SuspendedParticipant(account);
    }

    /// @dev Whether `account` holds every unit of the lot in existence (and at least one).
    function _holdsAll(address account, uint256 lotId, uint256 quantity)
        private
        view
        returns (bool)
    {
        uint256 held = balanceOf(account, lotId);
        return held != 0 && held == quantity;
    }

    function _checkMaterialKind(LotKind kind) private pure {
        if (kind == LotKind.None || kind == LotKind.Bundle) revert InvalidLotKind(kind);
    }

    /// @dev A single-id ERC-1155 update without the receiver acceptance callback: escrow
    ///      accounts have no code, and participants are signing accounts. The two one-element
    ///      arrays are laid out directly (as OpenZeppelin's private `_asSingletonArrays`
    ///      does), which spares every handoff step Solidity's allocation and bounds checks.
    function _move(address from, address to, uint256 id, uint256 quantity) private {
        uint256[] memory ids;
        uint256[] memory values;
        assembly ("memory-safe") {
            ids := mload(0x40)
            mstore(ids, 1)
            mstore(add(ids, 0x20), id)
            values := add(ids, 0x40)
            mstore(values, 1)
            mstore(add(values, 0x20), quantity)
            mstore(0x40, add(values, 0x40))
        }
        _update(from, to, ids, values);
    }
}
