"""The chain: settings, the compiled artifacts, the client that signs and sends, event and
revert decoding, the domain constants shared with the contracts, the compiler and the
deployer. Nothing is imported here, so ``contracts.chain.domain`` costs no web3."""
