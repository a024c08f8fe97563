using HepDb.Engines;

namespace HepDb.Databases;

/// <summary>Log events of provisioning and the reconciler (event ids 2000-2999; the table of every event is in
/// docs/operations.md). Errors are logged by their type or engine message, never with a password.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Creating {DbName} on {Engine} failed ({Error}); undoing")]
    public static partial void CreateFailed(this ILogger logger, string dbName, EngineKind engine, string error);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Undoing {DbName} failed ({Error}); the reconciler will roll it back")]
    public static partial void UndoFailed(this ILogger logger, string dbName, string error);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Database {DatabaseId} on {Engine}: {Operation} done")]
    public static partial void DatabaseOperationDone(this ILogger logger, string databaseId, string engine, string operation);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Dropping {DbName} failed ({Error}); the reconciler will finish it")]
    public static partial void DropFailed(this ILogger logger, string dbName, string error);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "Dropping orphan {DbName}/{User} on {Server}: no record")]
    public static partial void DroppingOrphan(this ILogger logger, string dbName, string user, string server);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Information,
        Message = "Reconciler: {RolledBack} rolled back, {Deleted} deleted, {Rotations} rotations finished, {Orphans} orphans dropped, {Errors} errors")]
    public static partial void ReconcilerPass(this ILogger logger, int rolledBack, int deleted, int rotations, int orphans, int errors);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "Reconciler: {Engine}: {Error}")]
    public static partial void ReconcilerEngineFailed(this ILogger logger, string engine, string error);
}
