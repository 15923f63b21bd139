// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title What the lot registry needs to know about certificates
interface ICertificates {
    /// @notice Whether any unrevoked certificate of `certificateType` issued for lot `lotId`
    ///         is valid at the current block's timestamp.
    /// @param lotId The ERC-1155 id of the lot.
    /// @param certificateType The certificate type, e.g. bytes32("QUALITY").
    function hasValidLotCertificate(uint256 lotId, bytes32 certificateType)
        external
        view
        returns (bool);
}
