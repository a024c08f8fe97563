namespace HepDb.Accounts;

/// <summary>Log events of the account enforcer, which applies quota and suspension verdicts (event ids 3100-3199, with
/// the quota watcher's; the table of every event is in docs/operations.md).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "{DbName}: {From} → {To} (connection limit {Limit})")]
    public static partial void DatabaseBroughtInLine(this ILogger logger, string dbName, string from, string to, int limit);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "Could not bring {DbName} to {Status}: {Error}")]
    public static partial void DatabaseNotBroughtInLine(this ILogger logger, string dbName, string status, string error);
}
