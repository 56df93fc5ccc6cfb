/** The contracts' state enums, as their view functions return them. */

/** Replica states as StorageMarket.replicaState returns them. */
export enum ReplicaState { Open, Committed, Proving, Failed, Finished }

/** Sector states as StorageMarket.sectorState returns them. */
export enum SectorState { None, Committed, Proving, Expired, Dropped }

/** Deal states as StorageMarket.dealState returns them. */
export enum DealState { Pending, Active, Finished, Failed, Cancelled }

/** Download stages as DownloadMarket.getDownload returns them (IDownloadMarket.Stage). */
export enum DownloadStage { None, Opened, Committed, Received, Revealed, Paid, Refunded, Disputed }
