namespace HepDb.Hosting;

/// <summary>Log events of start-up, background jobs and the private engine servers (event ids 1000-1999; the table of
/// every event is in docs/operations.md). Source-generated, so a message that is filtered out costs nothing.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Error, Message = "{Job} pass failed")]
    public static partial void JobPassFailed(this ILogger logger, Exception error, string job);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "MariaDB: initialised {Dir} in {Ms} ms")]
    public static partial void MariaDbInitialised(this ILogger logger, string dir, long ms);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Information, Message = "MariaDB: listening on 127.0.0.1:{Port}")]
    public static partial void MariaDbListening(this ILogger logger, int port);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Information, Message = "PostgreSQL: initialised {Dir} in {Ms} ms")]
    public static partial void PostgresInitialised(this ILogger logger, string dir, long ms);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Information, Message = "PostgreSQL: listening on 127.0.0.1:{Port}")]
    public static partial void PostgresListening(this ILogger logger, int port);

    [LoggerMessage(EventId = 1022, Level = LogLevel.Information,
        Message = "PostgreSQL: gave the postgres user search (x) permission on {Folder} so it can reach its data folder")]
    public static partial void PostgresFolderOpened(this ILogger logger, string folder);

    [LoggerMessage(EventId = 1023, Level = LogLevel.Information,
        Message = "PostgreSQL: waited {Ms} ms for the previous server's processes to leave its shared memory")]
    public static partial void PostgresSharedMemoryWait(this ILogger logger, long ms);

    [LoggerMessage(EventId = 1030, Level = LogLevel.Information,
        Message = "MongoDB: no mongod on PATH, so no local MongoDB server; the engine is reported as not available.")]
    public static partial void MongoNotInstalled(this ILogger logger);

    [LoggerMessage(EventId = 1031, Level = LogLevel.Information, Message = "MongoDB: listening on 127.0.0.1:{Port}")]
    public static partial void MongoListening(this ILogger logger, int port);

    [LoggerMessage(EventId = 1040, Level = LogLevel.Error,
        Message = "{Engine}: the server exited unexpectedly ({Exit}) after {Uptime:0.0} s up; restarting it. Last lines of {Log}:{Tail}")]
    public static partial void EngineExited(this ILogger logger, string engine, string exit, double uptime, string log, string tail);

    [LoggerMessage(EventId = 1041, Level = LogLevel.Error,
        Message = "{Engine}: restart attempt {Attempt} failed; next attempt in {Pause:0.0} s. Last lines of {Log}:{Tail}")]
    public static partial void EngineRestartFailed(this ILogger logger, Exception error, string engine, int attempt, double pause, string log, string tail);

    [LoggerMessage(EventId = 1042, Level = LogLevel.Warning,
        Message = "{Engine}: serving again {Ms} ms after it exited ({Exit}); restart attempt {Attempt}, {Restarts} restart(s) since HepDb started.")]
    public static partial void EngineServingAgain(this ILogger logger, string engine, long ms, string exit, int attempt, int restarts);

    [LoggerMessage(EventId = 1043, Level = LogLevel.Information,
        Message = "Local engines: renewed the servers' TLS certificate {File}; the servers have loaded it")]
    public static partial void EngineCertificateRenewed(this ILogger logger, string file);

    [LoggerMessage(EventId = 1050, Level = LogLevel.Warning,
        Message = "Metrics are not served: {Host}:{Port} cannot be bound ({Error}). Free the port or set Metrics:Port; HepDb runs on without them.")]
    public static partial void MetricsUnavailable(this ILogger logger, string host, int port, string error);
}
