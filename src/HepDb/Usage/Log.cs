namespace HepDb.Usage;

/// <summary>Log events of the usage history (event ids 7000-7099; the table of every event is in docs/operations.md).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "Usage history: counting connections on {Engine} failed: {Error}")]
    public static partial void CountingConnectionsFailed(this ILogger logger, string engine, string error);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Usage history: recording this pass's samples failed: {Error}")]
    public static partial void RecordingHistoryFailed(this ILogger logger, string error);
}
