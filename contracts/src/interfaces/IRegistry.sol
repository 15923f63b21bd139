// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title The participant and lot registry, as the satellite contracts see it
/// @notice Certificates and Anchors ask the registry who may act, so one pause and one
///         participant list govern the whole system.
interface IRegistry {
    /// @notice Reverts unless the system is running and `account` is a registered, active
    ///         participant holding at least one of the role bits in `anyOfRoles`.
    /// @param account The acting address.
    /// @param anyOfRoles A bit mask of accepted roles.
    function checkActor(address account, uint32 anyOfRoles) external view;

    /// @notice Whether a lot (or bundle) with this id has been registered.
    /// @param lotId The ERC-1155 id of the lot.
    function lotExists(uint256 lotId) external view returns (bool);

    /// @notice Whether `account` is a registered participant (active or suspended).
    /// @param account The address to look up.
    function isRegistered(address account) external view returns (bool);

    /// @notice Whether `caller` signs for the organisation that `account` identifies: it is
    ///         `account` itself or a key `account` was rotated to, directly or through later
    ///         rotations (at most MAX_SUCCESSION_DEPTH links, see Participants). Says nothing
    ///         about whether `caller` is active or holds a role: check that with `checkActor`.
    /// @param account The key that acted first (e.g. a certificate's issuer).
    /// @param caller The key acting now.
    function actsFor(address account, address caller) external view returns (bool);
}
