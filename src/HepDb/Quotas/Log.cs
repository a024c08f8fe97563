namespace HepDb.Quotas;

/// <summary>Log events of the quota watcher (event ids 3000-3099; the table of every event is in docs/operations.md).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Quota watcher: measuring {Engine} failed: {Error}")]
    public static partial void MeasuringFailed(this ILogger logger, string engine, string error);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Quota watcher: enforcing connection limits on {Engine} failed: {Error}")]
    public static partial void ConnectionLimitsFailed(this ILogger logger, string engine, string error);
}
