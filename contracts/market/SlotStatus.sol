// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title SlotStatus
/// @notice What a replica slot records (IStorageMarket.Replica.status). The public ReplicaState is derived
/// from it plus block time (a late PoRep or an ended deal changes the state without a transaction).
library SlotStatus {
    /// Never filled, or reopened after an expired PoRep.
    uint8 internal constant OPEN = 0;
    /// Filled; PoRep pending.
    uint8 internal constant COMMITTED = 1;
    /// PoRep accepted.
    uint8 internal constant PROVING = 2;
    /// The lessor failed by misses; open for repair.
    uint8 internal constant FAILED = 3;
    /// Collateral released after the deal ended.
    uint8 internal constant FINISHED = 4;
}
