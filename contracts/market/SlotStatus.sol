// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title SlotStatus
/// @notice What a replica slot and a sector record (IStorageMarket.Replica.status, Sector.status). The public
/// ReplicaState and SectorState are derived from them, the lessor's proven periods and block time (a late
/// PoRep, missed periods or an ended deal change the state without a transaction).
library SlotStatus {
    /// Slot: never filled, or reopened by the settlement of a failure.
    uint8 internal constant OPEN = 0;
    /// Slot: a piece of a sector.
    uint8 internal constant FILLED = 1;
    /// Slot: settled after its deal ended.
    uint8 internal constant FINISHED = 2;

    /// Sector: committed, PoRep pending (late once porepTimeout or 256 blocks passed).
    uint8 internal constant COMMITTED = 1;
    /// Sector: PoRep accepted, in the lessor's proving set.
    uint8 internal constant PROVING = 2;
    /// Sector: dropped by its lessor.
    uint8 internal constant DROPPED = 3;
}
