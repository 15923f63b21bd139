// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";

/// @title An unmodified OpenZeppelin ERC-1155, the gas baseline for the benchmarks
/// @notice Not deployed by the system; bench/gas.py compares handoffs against its transfers.
contract PlainERC1155 is ERC1155 {
    constructor() ERC1155("") {}

    /// @notice Mints `amount` of token `id` to `to`; anyone may call it (benchmark only).
    /// @param to The receiver.
    /// @param id The token id.
    /// @param amount The amount.
    function mint(address to, uint256 id, uint256 amount) external {
        _mint(to, id, amount, "");
    }
}
