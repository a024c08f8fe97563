namespace HepDb.Fleet;

/// <summary>Log events of the fleet: servers and moves (event ids 8000-8999; the table of every event is in
/// docs/operations.md).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 8001, Level = LogLevel.Information, Message = "Moving database {DatabaseId} from {From} to {To}")]
    public static partial void MoveStarted(this ILogger logger, string databaseId, string from, string to);

    [LoggerMessage(EventId = 8002, Level = LogLevel.Information, Message = "Database {DatabaseId} moved from {From} to {To}")]
    public static partial void MoveDone(this ILogger logger, string databaseId, string from, string to);

    [LoggerMessage(EventId = 8003, Level = LogLevel.Warning, Message = "Moving database {DatabaseId} to {To} failed: {Error}")]
    public static partial void MoveFailed(this ILogger logger, string databaseId, string to, string error);

    [LoggerMessage(EventId = 8004, Level = LogLevel.Warning, Message = "Move of database {DatabaseId} to {To} rolled back: it stays where it was")]
    public static partial void MoveRolledBack(this ILogger logger, string databaseId, string to);

    [LoggerMessage(EventId = 8005, Level = LogLevel.Warning, Message = "Database {DatabaseId} moved, but its copy on {From} was not dropped ({Error}); the reconciler will drop it")]
    public static partial void MoveSourceNotDropped(this ILogger logger, string databaseId, string from, string error);

    [LoggerMessage(EventId = 8010, Level = LogLevel.Information, Message = "Engine server {ServerId}: {Change}")]
    public static partial void ServerChanged(this ILogger logger, string serverId, string change);
}
