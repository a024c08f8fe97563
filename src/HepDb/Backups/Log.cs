using HepDb.Engines;

namespace HepDb.Backups;

/// <summary>Log events of backups and restores (event ids 5000-5999; the table of every event is in docs/operations.md).
/// Errors are logged by the dump tool's message, which never holds a password.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Backup {BackupId} ({Kind}) of {DbName}: {Bytes} bytes in {Ms} ms")]
    public static partial void BackupTaken(this ILogger logger, string backupId, Backups.BackupKind kind, string dbName, long bytes, long ms);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Backup {BackupId} ({Kind}) of {DbName} failed: {Error}")]
    public static partial void BackupFailed(this ILogger logger, string backupId, Backups.BackupKind kind, string dbName, string error);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "Restored backup {BackupId} into {DbName}")]
    public static partial void Restored(this ILogger logger, string backupId, string dbName);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "Restoring backup {BackupId} into {DbName} failed ({Error}); putting back the contents before it")]
    public static partial void RestoreFailed(this ILogger logger, string backupId, string dbName, string error);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Error, Message = "Putting back the contents of {DbName} failed ({Error}); its user stays locked and the backup scheduler retries")]
    public static partial void RollbackFailed(this ILogger logger, string dbName, string error);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning, Message = "Finishing the restore into {DbName} that a crash cut short")]
    public static partial void ResumingRestore(this ILogger logger, string dbName);

    [LoggerMessage(EventId = 5007, Level = LogLevel.Warning, Message = "Backup {BackupId} of {DbName} was cut short (holder gone); marked failed")]
    public static partial void BackupInterrupted(this ILogger logger, string backupId, string dbName);

    [LoggerMessage(EventId = 5008, Level = LogLevel.Information, Message = "Backups: {Taken} taken, {Failed} failed, {Purged} purged, {Recovered} recovered")]
    public static partial void SchedulerPass(this ILogger logger, int taken, int failed, int purged, int recovered);

    [LoggerMessage(EventId = 5009, Level = LogLevel.Warning, Message = "Backup {BackupId}: its file is missing from the store")]
    public static partial void BackupFileMissing(this ILogger logger, string backupId);

    [LoggerMessage(EventId = 5010, Level = LogLevel.Information, Message = "Recovered deleted database {DbName} from final backup {BackupId} into {NewDbName}")]
    public static partial void Recovered(this ILogger logger, string dbName, string backupId, string newDbName);

    [LoggerMessage(EventId = 5011, Level = LogLevel.Warning, Message = "Backups of {Engine}: {Error}")]
    public static partial void EngineFailed(this ILogger logger, EngineKind engine, string error);
}
