// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IRegistry} from "./interfaces/IRegistry.sol";

/// @title Anchors: Merkle roots of off-chain batches (sensor readings, EPCIS documents,
///        mirror digests)
/// @notice Any active participant anchors a root; the block it landed in dates the batch, and
///         per-item inclusion proofs lead from an item to the root. An anchor is the pair
///         (anchorer, root): each participant anchors a given root once, and anchoring a root
///         someone else already anchored is allowed and changes nothing of theirs. So a root
///         seen in a pending transaction cannot be claimed away from the party that
///         published it: copying it only creates the copier's own anchor.
contract Anchors {
    uint32 private constant ANY_ROLE = (1 << 7) - 1;

    /// @notice The registry of participants (the Lots contract).
    IRegistry public immutable registry;

    mapping(address anchorer => mapping(bytes32 root => uint64 blockNumber)) internal _anchors;

    event RootAnchored(
        bytes32 indexed root,
        bytes32 indexed kind,
        address indexed anchorer,
        uint64 itemCount,
        string uri
    );

    error InvalidRoot();
    error RootAlreadyAnchored(address anchorer, bytes32 root, uint64 blockNumber);

    /// @param registry_ The Lots contract, which knows participants and the pause.
    constructor(IRegistry registry_) {
        registry = registry_;
    }

    /// @notice Anchors the Merkle root of an off-chain batch, as the caller's.
    /// @param root The batch's Merkle root.
    /// @param kind What the batch holds, as bytes32 ASCII (e.g. "SENSOR_READINGS").
    /// @param itemCount How many items the batch holds.
    /// @param uri Where the batch can be fetched (no personal data).
    function anchor(bytes32 root, bytes32 kind, uint64 itemCount, string calldata uri) external {
        registry.checkActor(msg.sender, ANY_ROLE);
        if (root == bytes32(0)) revert InvalidRoot();
        uint64 existing = _anchors[msg.sender][root];
        if (existing != 0) revert RootAlreadyAnchored(msg.sender, root, existing);
        _anchors[msg.sender][root] = uint64(block.number);
        emit RootAnchored(root, kind, msg.sender, itemCount, uri);
    }

    /// @notice The block in which `anchorer` anchored `root` (0 when it never did).
    /// @param anchorer The participant.
    /// @param root The Merkle root.
    function anchoredAt(address anchorer, bytes32 root) external view returns (uint64) {
        return _anchors[anchorer][root];
    }
}
