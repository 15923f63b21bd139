// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IRegistry} from "./interfaces/IRegistry.sol";

/// @title Anchors: Merkle roots of off-chain batches (sensor readings, EPCIS documents,
///        mirror digests)
/// @notice Any active participant anchors a root once; the block it landed in dates the
///         batch, and per-item inclusion proofs lead from an item to the root.
contract Anchors {
    struct Anchor {
        address anchorer;
        uint64 blockNumber;
    }

    uint32 private constant ANY_ROLE = (1 << 7) - 1;

    /// @notice The registry of participants (the Lots contract).
    IRegistry public immutable registry;

    mapping(bytes32 root => Anchor) internal _anchors;

    event RootAnchored(
        bytes32 indexed root,
        bytes32 indexed kind,
        address indexed anchorer,
        uint64 itemCount,
        string uri
    );

    error InvalidRoot();
    error RootAlreadyAnchored(bytes32 root, uint64 blockNumber);

    /// @param registry_ The Lots contract, which knows participants and the pause.
    constructor(IRegistry registry_) {
        registry = registry_;
    }

    /// @notice Anchors the Merkle root of an off-chain batch.
    /// @param root The batch's Merkle root.
    /// @param kind What the batch holds, as bytes32 ASCII (e.g. "SENSOR_READINGS").
    /// @param itemCount How many items the batch holds.
    /// @param uri Where the batch can be fetched (no personal data).
    function anchor(bytes32 root, bytes32 kind, uint64 itemCount, string calldata uri) external {
        registry.checkActor(msg.sender, ANY_ROLE);
        if (root == bytes32(0)) revert InvalidRoot();
        Anchor memory existing = _anchors[root];
        if (existing.anchorer != address(0)) {
            revert RootAlreadyAnchored(root, existing.blockNumber);
        }
        _anchors[root] = Anchor({anchorer: msg.sender, blockNumber: uint64(block.number)});
        emit RootAnchored(root, kind, msg.sender, itemCount, uri);
    }

    /// @notice Who anchored a root and in which block (zeros when never anchored).
    /// @param root The Merkle root.
    function anchorOf(bytes32 root) external view returns (address anchorer, uint64 blockNumber) {
        Anchor memory a = _anchors[root];
        return (a.anchorer, a.blockNumber);
    }
}
