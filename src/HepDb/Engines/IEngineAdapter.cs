using System.Net;
using HepDb.Hosting;

namespace HepDb.Engines;

/// <summary>What a tenant database needs on its engine: the database, its one user, the password and the connection limit.</summary>
public sealed record TenantSpec(string DbName, string User, string Password, int ConnectionLimit);

/// <summary>Health of one engine server, for the readiness endpoint and the admin area.</summary>
public sealed record EngineProbe(bool Up, string? Version, TimeSpan Latency, string? Error);

/// <summary>One size measurement of a whole engine server.</summary>
public sealed record SizeScan(IReadOnlyDictionary<string, long> Bytes, int Queries);

/// <summary>Names found on an engine server that follow HepDb's naming (for the reconciler).</summary>
public sealed record TenantObjects(IReadOnlyList<string> Databases, IReadOnlyList<string> Users);

/// <summary>
/// The seam between HepDb and one engine server. Every operation is idempotent (safe to repeat after a crash),
/// throws <see cref="EngineUnavailableException"/> when the server cannot be reached in time, and
/// <see cref="EngineCommandException"/> when the server refuses a command.
/// </summary>
public interface IEngineAdapter
{
    EngineKind Kind { get; }
    EngineServerOptions Server { get; }

    Task<EngineProbe> ProbeAsync(CancellationToken ct);

    /// <summary>Creates the database and its user (scoped to that database only), or completes a half-done creation.</summary>
    Task CreateTenantAsync(TenantSpec spec, CancellationToken ct);

    /// <summary>Ends the user's sessions, drops the database and the user. Missing objects are not an error.</summary>
    Task DropTenantAsync(string dbName, string user, CancellationToken ct);

    /// <summary>Sets a new password; new logins need it at once.</summary>
    Task SetPasswordAsync(string user, string password, CancellationToken ct);

    /// <summary>Sets the user's concurrent-connection limit (tier change). Applies to new connections.</summary>
    Task SetConnectionLimitAsync(TenantSpec spec, CancellationToken ct);

    /// <summary>Whether the server itself refuses a tenant's connection over its limit (MariaDB MAX_USER_CONNECTIONS,
    /// PostgreSQL CONNECTION LIMIT). When false the quota watcher calls <see cref="EnforceConnectionLimitsAsync"/>.</summary>
    bool EnforcesConnectionLimitsNatively => true;

    /// <summary>
    /// For engines without a native per-user connection limit (MongoDB): counts each tenant user's open connections and
    /// ends what it can of the excess over <paramref name="limitByUser"/> (tenant user → limit). Returns how many
    /// connections or operations it ended. Called by the quota watcher once per pass per server. Engines that enforce
    /// the limit themselves (MariaDB MAX_USER_CONNECTIONS, PostgreSQL CONNECTION LIMIT) keep this default.
    /// </summary>
    Task<int> EnforceConnectionLimitsAsync(IReadOnlyDictionary<string, int> limitByUser, CancellationToken ct) => Task.FromResult(0);

    /// <summary>Suspension: the user can no longer log in or act, and its open sessions are ended.</summary>
    Task LockAsync(TenantSpec spec, CancellationToken ct);

    /// <summary>Lifts <see cref="LockAsync"/>: the user logs in again with <paramref name="spec"/>'s password, with
    /// write privileges restored unless <paramref name="writesBlocked"/>.</summary>
    Task UnlockAsync(TenantSpec spec, bool writesBlocked, CancellationToken ct);

    /// <summary>Over quota: when <paramref name="blocked"/>, the engine refuses writes that grow data (insert, update, create)
    /// while reads and space-freeing operations stay possible, in a way the tenant cannot undo; open sessions are ended
    /// so it bites at once. When not blocked, the normal privileges are restored exactly.</summary>
    Task SetWritesBlockedAsync(TenantSpec spec, bool blocked, CancellationToken ct);

    /// <summary>Sizes in bytes of the tenant databases named in <paramref name="dbNames"/> (those a metadata store has
    /// records for), by database name, with a bounded number of queries (not one per database); a name the server does
    /// not have is left out. Only these are measured, so the cost follows one store's databases and not everything on a
    /// shared server. Returns the number of engine queries it ran.</summary>
    Task<SizeScan> MeasureSizesAsync(IReadOnlyCollection<string> dbNames, CancellationToken ct);

    /// <summary>Open connections of each tenant user named in <paramref name="users"/> (those a metadata store has
    /// records for), by user, with one query per server; a user with none is left out. For the usage history.</summary>
    Task<IReadOnlyDictionary<string, int>> CountConnectionsAsync(IReadOnlyCollection<string> users, CancellationToken ct);

    /// <summary>Lists the databases and users on the server whose names follow HepDb's naming.</summary>
    Task<TenantObjects> ListTenantObjectsAsync(CancellationToken ct);

    /// <summary>Runs a statement as the tenant (for health checks of a tenant login and for tests).</summary>
    Task<string?> ScalarAsTenantAsync(string dbName, string user, string password, string sql, CancellationToken ct);

    /// <summary>A connection string for the tenant, in the engine's URI form (SPEC §2).</summary>
    string ConnectionString(string dbName, string user, string password);

    /// <summary>Whether HepDb can set allowlists on this server at all (PostgreSQL: only where it manages pg_hba.conf).</summary>
    bool SupportsAllowlists => true;

    /// <summary>Why this server cannot enforce <paramref name="cidrs"/> as an allowlist, or null when it can.</summary>
    string? AllowlistProblem(IReadOnlyList<IPNetwork> cidrs) => null;

    /// <summary>Lets the tenant's user log in only from <paramref name="cidrs"/> (empty: from anywhere), enforced by the
    /// engine itself (MariaDB account hosts, PostgreSQL <c>pg_hba.conf</c> rules, MongoDB
    /// <c>authenticationRestrictions</c>); sessions from addresses no longer allowed are ended. Idempotent.</summary>
    Task SetAllowlistAsync(TenantSpec spec, IReadOnlyList<IPNetwork> cidrs, CancellationToken ct);

    /// <summary>Server-wide settings HepDb keeps, run by every reconciler pass (MariaDB: the TLS requirement of every
    /// tenant account). Cheap when nothing is to change.</summary>
    Task ConvergeServerAsync(CancellationToken ct) => Task.CompletedTask;

    /// <summary>Dump and load with the engine's own tools (backups, restores), or null when the engine has none here.</summary>
    IEngineDumps? Dumps => null;
}

/// <summary>The engine server could not be reached in time. Nothing was changed by HepDb.</summary>
public sealed class EngineUnavailableException(EngineKind engine, string message, Exception? inner = null, bool beforeAnyChange = false)
    : Exception($"{engine.DisplayName()} is unavailable: {message}", inner)
{
    public EngineKind Engine { get; } = engine;

    /// <summary>True when the server was not reached at all (the admin connection failed to open), so this attempt
    /// changed nothing on it.</summary>
    public bool BeforeAnyChange { get; } = beforeAnyChange;
}

/// <summary>The engine refused a command. <see cref="Code"/> is the engine's own error number or SQLSTATE.</summary>
public sealed class EngineCommandException(EngineKind engine, string code, string message, Exception? inner = null)
    : Exception($"{engine.DisplayName()} error {code}: {message}", inner)
{
    public EngineKind Engine { get; } = engine;
    public string Code { get; } = code;
}
