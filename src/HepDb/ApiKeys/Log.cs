namespace HepDb.ApiKeys;

/// <summary>Log events of API keys (event ids 4000-4999; the table of every event is in docs/operations.md). Never a
/// key or its hash.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Could not record API key usage; will retry with the next request")]
    public static partial void KeyUsageNotRecorded(this ILogger logger, Exception error);
}
