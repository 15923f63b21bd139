// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IRegistry} from "./interfaces/IRegistry.sol";

/// @title Participants: the organisations of the consortium, their roles and the emergency pause
/// @notice Business roles live in one packed slot per participant (a bit mask plus flags), so
///         checking "active and allowed" costs one storage read on every call. The
///         consortium's administrators hold the OpenZeppelin role ADMIN_ROLE; the default
///         admin (who grants ADMIN_ROLE) changes hands only by the two-step, delayed transfer
///         of AccessControlDefaultAdminRules.
abstract contract Participants is AccessControlDefaultAdminRules, IRegistry {
    /// @notice Onboards, suspends and re-activates participants; pauses the system.
    bytes32 public constant ADMIN_ROLE = keccak256("ADMIN");

    uint32 public constant MINER = 1 << 0;
    uint32 public constant MANUFACTURER = 1 << 1;
    uint32 public constant DISTRIBUTOR = 1 << 2;
    uint32 public constant RETAILER = 1 << 3;
    uint32 public constant CERTIFIER = 1 << 4;
    uint32 public constant AUDITOR = 1 << 5;
    uint32 public constant REPORTER = 1 << 6;

    /// @notice How many successor links `actsFor` follows: a key rotated more often than
    ///         this no longer acts for its oldest predecessors.
    uint256 public constant MAX_SUCCESSION_DEPTH = 16;

    /// @dev Every business role; a role mask outside it is refused.
    uint32 internal constant ALL_ROLES = (1 << 7) - 1;
    /// @dev Roles that take custody of material: they may hold, hand off and receive lots.
    uint32 internal constant CUSTODIANS = MINER | MANUFACTURER | DISTRIBUTOR | RETAILER;

    struct Participant {
        uint32 roles;
        bool registered;
        bool active;
        /// @dev Set when the participant declared a certificate it requires on acceptance;
        ///      keeps the policy's own slot out of the common path.
        bool hasAcceptancePolicy;
    }

    /// @dev The pause flag and the id sequences share one slot: every state change reads
    ///      the pause flag anyway, so bumping a sequence in the same slot is nearly free.
    struct Sequences {
        uint64 handoffs;
        uint64 transformations;
        bool paused;
    }

    mapping(address account => Participant) internal _participants;
    mapping(address account => bytes32 certificateType) internal _acceptancePolicy;
    Sequences internal _sequences;
    /// @dev Set once, by key rotation. A successor is always a newly registered address and
    ///      registrations are never undone, so the links form chains, never cycles. Kept out
    ///      of the Participant slot: only rotation, migration and revocation by a successor
    ///      read it.
    mapping(address account => address successor) internal _successors;

    event ParticipantRegistered(address indexed account, uint32 roles, bytes32 profileHash);
    event ParticipantRolesChanged(address indexed account, uint32 roles);
    event ParticipantSuspended(address indexed account, string reason);
    event ParticipantReactivated(address indexed account);
    event AcceptancePolicySet(address indexed account, bytes32 certificateType);
    /// @notice `account`'s organisation now signs with `successor` (registered in the same
    ///         transaction with the same roles and acceptance policy).
    event ParticipantKeyRotated(address indexed account, address indexed successor);
    event Paused(address indexed by);
    event Unpaused(address indexed by);

    error ZeroAddress();
    error InvalidRoles(uint32 roles);
    error ParticipantAlreadyRegistered(address account);
    error UnknownParticipant(address account);
    error SuspendedParticipant(address account);
    error ParticipantAlreadyActive(address account);
    error MissingRole(address account, uint32 anyOfRoles);
    error SystemPaused();
    error SystemNotPaused();
    error KeyAlreadyRotated(address account);

    constructor(address admin, uint48 adminTransferDelay)
        AccessControlDefaultAdminRules(adminTransferDelay, admin)
    {
        _grantRole(ADMIN_ROLE, admin);
    }

    // ----------------------------------------------------------------- administration

    /// @notice Onboards an organisation with its business roles; it may act at once.
    /// @param account The organisation's signing address.
    /// @param roles A non-empty bit mask of MINER, MANUFACTURER, DISTRIBUTOR, RETAILER,
    ///        CERTIFIER, AUDITOR, REPORTER.
    /// @param profileHash Hash of the off-chain profile (name, GLNs); no personal data.
    function registerParticipant(address account, uint32 roles, bytes32 profileHash)
        external
        onlyRole(ADMIN_ROLE)
    {
        if (account == address(0)) revert ZeroAddress();
        _checkRoleMask(roles);
        if (_participants[account].registered) revert ParticipantAlreadyRegistered(account);
        _participants[account] =
            Participant({roles: roles, registered: true, active: true, hasAcceptancePolicy: false});
        emit ParticipantRegistered(account, roles, profileHash);
    }

    /// @notice Replaces a participant's business roles.
    /// @param account The participant.
    /// @param roles The new non-empty role mask.
    function setParticipantRoles(address account, uint32 roles) external onlyRole(ADMIN_ROLE) {
        _checkRoleMask(roles);
        Participant storage p = _registered(account);
        p.roles = roles;
        emit ParticipantRolesChanged(account, roles);
    }

    /// @notice Suspends a participant: it can no longer act until re-activated.
    /// @param account The participant.
    /// @param reason A readable reason, kept in the event.
    function suspendParticipant(address account, string calldata reason)
        external
        onlyRole(ADMIN_ROLE)
    {
        Participant storage p = _registered(account);
        if (!p.active) revert SuspendedParticipant(account);
        p.active = false;
        emit ParticipantSuspended(account, reason);
    }

    /// @notice Re-activates a suspended participant.
    /// @param account The participant.
    function reactivateParticipant(address account) external onlyRole(ADMIN_ROLE) {
        Participant storage p = _registered(account);
        if (p.active) revert ParticipantAlreadyActive(account);
        p.active = true;
        emit ParticipantReactivated(account);
    }

    /// @notice Moves an organisation to a new signing key without losing its history.
    ///         `successor` is registered, active, with `account`'s roles and acceptance
    ///         policy, and from then on acts for `account` where the system allows it (see
    ///         `actsFor`: revoking the certificates `account` issued). `account` stays as it
    ///         is, active or suspended: while active it moves its holdings to the successor
    ///         (`migrateHoldings`) and settles the handoffs it is party to; the admin then
    ///         retires it with `suspendParticipant`. Allowed while paused, like all participant
    ///         administration. Emits ParticipantRegistered for the successor, AcceptancePolicySet
    ///         when a policy is copied, then ParticipantKeyRotated.
    /// @param account A registered participant whose key was never rotated.
    /// @param successor The new signing address; non-zero and never registered.
    /// @param profileHash Hash of the successor's off-chain profile.
    function rotateParticipantKey(address account, address successor, bytes32 profileHash)
        external
        onlyRole(ADMIN_ROLE)
    {
        Participant storage p = _registered(account);
        if (_successors[account] != address(0)) revert KeyAlreadyRotated(account);
        if (successor == address(0)) revert ZeroAddress();
        if (_participants[successor].registered) revert ParticipantAlreadyRegistered(successor);
        uint32 roles = p.roles;
        bool hasPolicy = p.hasAcceptancePolicy;
        _participants[successor] = Participant({
            roles: roles,
            registered: true,
            active: true,
            hasAcceptancePolicy: hasPolicy
        });
        _successors[account] = successor;
        emit ParticipantRegistered(successor, roles, profileHash);
        if (hasPolicy) {
            bytes32 policy = _acceptancePolicy[account];
            _acceptancePolicy[successor] = policy;
            emit AcceptancePolicySet(successor, policy);
        }
        emit ParticipantKeyRotated(account, successor);
    }

    /// @notice Emergency stop: every business state change (lots, handoffs, bundles,
    ///         transformations, certificates, quarantines, anchors) reverts until unpaused.
    ///         Participant administration stays possible, so a compromised key can still be
    ///         suspended while the system is stopped.
    function pause() external onlyRole(ADMIN_ROLE) {
        if (_sequences.paused) revert SystemPaused();
        _sequences.paused = true;
        emit Paused(msg.sender);
    }

    /// @notice Lifts the emergency stop.
    function unpause() external onlyRole(ADMIN_ROLE) {
        if (!_sequences.paused) revert SystemNotPaused();
        _sequences.paused = false;
        emit Unpaused(msg.sender);
    }

    // ------------------------------------------------------------ participant's own settings

    /// @notice Declares that the caller accepts handoffs only of lots that carry a valid
    ///         certificate of `certificateType`; bytes32(0) removes the requirement.
    /// @param certificateType The certificate type required, e.g. bytes32("QUALITY").
    function setAcceptancePolicy(bytes32 certificateType) external {
        _requireRunning();
        _requireActor(msg.sender, CUSTODIANS);
        _acceptancePolicy[msg.sender] = certificateType;
        _participants[msg.sender].hasAcceptancePolicy = certificateType != bytes32(0);
        emit AcceptancePolicySet(msg.sender, certificateType);
    }

    // ----------------------------------------------------------------------------- views

    /// @notice A participant's roles and status.
    /// @param account The address to look up.
    /// @return roles The role mask.
    /// @return registered Whether the address was ever onboarded.
    /// @return active Whether it may act now.
    function participant(address account)
        external
        view
        returns (uint32 roles, bool registered, bool active)
    {
        Participant memory p = _participants[account];
        return (p.roles, p.registered, p.active);
    }

    /// @notice The certificate type `account` requires on acceptance (zero when none).
    /// @param account The participant.
    function acceptancePolicy(address account) external view returns (bytes32) {
        return _acceptancePolicy[account];
    }

    /// @notice The key `account` was rotated to (zero when never rotated).
    /// @param account The participant.
    function successorOf(address account) external view returns (address) {
        return _successors[account];
    }

    /// @inheritdoc IRegistry
    function actsFor(address account, address caller) public view returns (bool) {
        if (caller == account) return true;
        address current = account;
        for (uint256 i; i < MAX_SUCCESSION_DEPTH; ++i) {
            current = _successors[current];
            if (current == address(0)) return false;
            if (current == caller) return true;
        }
        return false;
    }

    /// @notice Whether the emergency stop is on.
    function paused() external view returns (bool) {
        return _sequences.paused;
    }

    /// @inheritdoc IRegistry
    function checkActor(address account, uint32 anyOfRoles) external view {
        _requireRunning();
        _requireActor(account, anyOfRoles);
    }

    /// @inheritdoc IRegistry
    function isRegistered(address account) external view returns (bool) {
        return _participants[account].registered;
    }

    // -------------------------------------------------------------------------- internals

    function _requireRunning() internal view {
        if (_sequences.paused) revert SystemPaused();
    }

    /// @dev One storage read: registered, active and role are all in the same slot.
    function _requireActor(address account, uint32 anyOfRoles)
        internal
        view
        returns (Participant memory p)
    {
        p = _participants[account];
        if (!p.registered) revert UnknownParticipant(account);
        if (!p.active) revert SuspendedParticipant(account);
        if (p.roles & anyOfRoles == 0) revert MissingRole(account, anyOfRoles);
    }

    function _registered(address account) private view returns (Participant storage p) {
        p = _participants[account];
        if (!p.registered) revert UnknownParticipant(account);
    }

    function _checkRoleMask(uint32 roles) private pure {
        if (roles == 0 || roles & ~ALL_ROLES != 0) revert InvalidRoles(roles);
    }
}
