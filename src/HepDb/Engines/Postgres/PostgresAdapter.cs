using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HepDb.Hosting;
using Npgsql;
using static HepDb.Engines.TenantNames;

namespace HepDb.Engines.Postgres;

/// <summary>
/// PostgreSQL tenants: a LOGIN role with no server-level attributes and a native CONNECTION LIMIT, owning one database
/// created from template0. <c>REVOKE ALL … FROM PUBLIC</c> on the tenant database, and once per server on
/// <c>postgres</c> and <c>template1</c>, removes PostgreSQL's default CONNECT/TEMP for everyone, so a tenant role can
/// connect to its own database and no other. Passwords are sent only as SCRAM verifiers.
/// </summary>
public sealed class PostgresAdapter : IEngineAdapter, IAsyncDisposable
{
    private readonly NpgsqlDataSource _admin;
    private readonly SemaphoreSlim _hardenOnce = new(1, 1);
    private bool _hardened;
    private readonly PgHbaFile? _hba;

    public PostgresAdapter(EngineServerOptions server)
    {
        Server = server;
        _admin = NpgsqlDataSource.Create(AdminConnectionString("postgres"));
        Dumps = new PostgresDumps(this);
        _hba = string.IsNullOrEmpty(server.HbaFile) ? null : new PgHbaFile(server.HbaFile, server.EffectiveRequireTls);
    }

    public EngineKind Kind => EngineKind.Postgres;
    public EngineServerOptions Server { get; }

    /// <summary><c>pg_dump</c> and <c>pg_restore</c> with this server's admin credentials.</summary>
    public IEngineDumps Dumps { get; }

    public async Task<EngineProbe> ProbeAsync(CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            await using var conn = await OpenAsync(ct);
            return new EngineProbe(true, conn.PostgreSqlVersion.ToString(), sw.Elapsed, null);
        }
        catch (EngineUnavailableException e)
        {
            return new EngineProbe(false, null, sw.Elapsed, e.Message);
        }
    }

    public Task CreateTenantAsync(TenantSpec spec, CancellationToken ct) => RunAsync(async conn =>
    {
        await HardenServerAsync(conn, ct);
        var role = PostgresQuote(spec.User);
        var verifier = Literal(ScramVerifier.Compute(spec.Password));
        if (await ExistsAsync(conn, "SELECT 1 FROM pg_roles WHERE rolname = $1", spec.User, ct))
            await ExecAsync(conn, $"ALTER ROLE {role} LOGIN PASSWORD {verifier} CONNECTION LIMIT {spec.ConnectionLimit}", ct);
        else
            // INHERIT (the default) is needed: in PostgreSQL 15 the owner reaches CREATE on schema public through its
            // implicit membership in pg_database_owner. The role is a member of nothing else.
            await ExecAsync(conn, $"CREATE ROLE {role} LOGIN PASSWORD {verifier} CONNECTION LIMIT {spec.ConnectionLimit} " +
                                  "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS", ct);
        await CreateDatabaseAsync(conn, spec, ct);
    }, ct);

    /// <summary>The tenant database, owned by the tenant's role, from template0, that no one else may connect to (if it
    /// is not there yet; the REVOKE is repeated either way).</summary>
    internal static async Task CreateDatabaseAsync(NpgsqlConnection conn, TenantSpec spec, CancellationToken ct)
    {
        var db = PostgresQuote(spec.DbName);
        if (!await ExistsAsync(conn, "SELECT 1 FROM pg_database WHERE datname = $1", spec.DbName, ct))
            await ExecAsync(conn, $"CREATE DATABASE {db} OWNER {PostgresQuote(spec.User)} TEMPLATE template0 ENCODING 'UTF8'", ct);
        await ExecAsync(conn, $"REVOKE ALL ON DATABASE {db} FROM PUBLIC", ct);
    }

    public Task DropTenantAsync(string dbName, string user, CancellationToken ct) => RunAsync(async conn =>
    {
        var roleExists = await ExistsAsync(conn, "SELECT 1 FROM pg_roles WHERE rolname = $1", user, ct);
        if (roleExists)
        {
            await ExecAsync(conn, $"ALTER ROLE {PostgresQuote(user)} NOLOGIN", ct);
            await TerminateSessionsAsync(conn, user, ct);
        }
        await ExecAsync(conn, $"DROP DATABASE IF EXISTS {PostgresQuote(dbName)} WITH (FORCE)", ct);
        await ExecAsync(conn, $"DROP ROLE IF EXISTS {PostgresQuote(HolderRole(user))}", ct);
        await ExecAsync(conn, $"DROP ROLE IF EXISTS {PostgresQuote(user)}", ct);
        await SetHbaRulesAsync(user, [], ct);
    }, ct);

    /// <summary>Allowlists live in the server's <c>pg_hba.conf</c>, which HepDb can only write when it is told where the
    /// file is (<see cref="EngineServerOptions.HbaFile"/>; set for a local server).</summary>
    public bool SupportsAllowlists => _hba is not null;

    /// <summary>The rules go to HepDb's block of <c>pg_hba.conf</c>, which is checked and reloaded; then the user's
    /// sessions from addresses no longer allowed are ended.</summary>
    public async Task SetAllowlistAsync(TenantSpec spec, IReadOnlyList<IPNetwork> cidrs, CancellationToken ct)
    {
        if (_hba is null)
        {
            if (cidrs.Count == 0) return; // nothing was ever set here
            throw new EngineCommandException(Kind, "pg_hba", "HepDb does not manage this server's pg_hba.conf (Engines:Postgres:HbaFile).");
        }
        await SetHbaRulesAsync(spec.User, _hba.RulesFor(spec.DbName, spec.User, cidrs), ct);
        if (cidrs.Count == 0) return;
        await RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND NOT (client_addr IS NOT NULL AND client_addr <<= ANY($2::inet[]))", conn);
            cmd.Parameters.AddWithValue(spec.User);
            cmd.Parameters.AddWithValue(cidrs.Select(c => c.ToString()).ToArray());
            await cmd.ExecuteNonQueryAsync(ct);
        }, ct);
    }

    private async Task SetHbaRulesAsync(string user, IEnumerable<string> rules, CancellationToken ct)
    {
        if (_hba is null) return;
        try
        {
            await _hba.SetRulesAsync(user, rules, OpenUnpooledAdminAsync, ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EngineCommandException(Kind, "pg_hba", $"{_hba.Path}: {e.Message}", e);
        }
        catch (PostgresException e)
        {
            throw new EngineCommandException(Kind, e.SqlState, e.MessageText, e);
        }
    }

    /// <summary>A new session (not from the pool), which sees the configuration as loaded now.</summary>
    private Task<NpgsqlConnection> OpenUnpooledAdminAsync(CancellationToken ct) => OpenAdminAsync("postgres", ct, pooled: false);

    public Task SetPasswordAsync(string user, string password, CancellationToken ct) => RunAsync(conn =>
        ExecAsync(conn, $"ALTER ROLE {PostgresQuote(user)} PASSWORD {Literal(ScramVerifier.Compute(password))}", ct), ct);

    public Task SetConnectionLimitAsync(TenantSpec spec, CancellationToken ct) => RunAsync(conn =>
        ExecAsync(conn, $"ALTER ROLE {PostgresQuote(spec.User)} CONNECTION LIMIT {spec.ConnectionLimit}", ct), ct);

    /// <summary>NOLOGIN only stops new logins, so the open sessions are terminated too.</summary>
    public Task LockAsync(TenantSpec spec, CancellationToken ct) => RunAsync(async conn =>
    {
        await ExecAsync(conn, $"ALTER ROLE {PostgresQuote(spec.User)} NOLOGIN", ct);
        await TerminateSessionsAsync(conn, spec.User, ct);
    }, ct);

    public async Task UnlockAsync(TenantSpec spec, bool writesBlocked, CancellationToken ct)
    {
        await SetWritesBlockedAsync(spec, writesBlocked, ct);
        await RunAsync(conn => ExecAsync(conn,
            $"ALTER ROLE {PostgresQuote(spec.User)} LOGIN PASSWORD {Literal(ScramVerifier.Compute(spec.Password))} CONNECTION LIMIT {spec.ConnectionLimit}", ct), ct);
    }

    /// <summary>
    /// An owner can always re-grant itself and <c>default_transaction_read_only</c> is a user setting, so neither can
    /// enforce a quota. Instead the tenant stops being the owner: everything it owns in its database (and the database
    /// itself) is reassigned to a per-tenant NOLOGIN holder role, and the tenant gets back only CONNECT, USAGE on its
    /// schemas and SELECT, DELETE, TRUNCATE on its tables. SECURITY DEFINER functions are handed back to the tenant so
    /// they run with the tenant's reduced rights, and the holder's own INSERT/UPDATE are revoked so rules (which run as
    /// the table owner) cannot write either. Unblocking reverses each step, so ownership and privileges return exactly.
    /// </summary>
    public Task SetWritesBlockedAsync(TenantSpec spec, bool blocked, CancellationToken ct) => RunAsync(async admin =>
    {
        var tenant = PostgresQuote(spec.User);
        var holder = PostgresQuote(HolderRole(spec.User));
        var holderExists = await ExistsAsync(admin, "SELECT 1 FROM pg_roles WHERE rolname = $1", HolderRole(spec.User), ct);
        if (blocked == holderExists) { if (blocked) await TerminateSessionsAsync(admin, spec.User, ct); return; }
        if (blocked) await ExecAsync(admin, $"CREATE ROLE {holder} NOLOGIN NOINHERIT", ct);
        await using var conn = await OpenAdminAsync(spec.DbName, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var schemas = await ListAsync(conn, "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'", ct);
        if (blocked)
        {
            await ExecAsync(conn, $"REASSIGN OWNED BY {tenant} TO {holder}", ct);
            foreach (var fn in await ListAsync(conn, "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner WHERE p.prosecdef AND r.rolname = $1", ct, HolderRole(spec.User)))
                await ExecAsync(conn, $"ALTER ROUTINE {fn} OWNER TO {tenant}", ct);
            await ExecAsync(conn, $"GRANT CONNECT ON DATABASE {PostgresQuote(spec.DbName)} TO {tenant}", ct);
            // Large objects need no table privilege: creating or writing one is refused through its functions, whose
            // EXECUTE is per database (the catalog is), so only this database's tenant is affected.
            await ExecAsync(conn, $"REVOKE EXECUTE ON FUNCTION {LargeObjectWriters} FROM PUBLIC, {tenant}", ct);
            foreach (var schema in schemas.Select(PostgresQuote))
            {
                await ExecAsync(conn, $"REVOKE INSERT, UPDATE ON ALL TABLES IN SCHEMA {schema} FROM {holder}", ct);
                await ExecAsync(conn, $"GRANT USAGE ON SCHEMA {schema} TO {tenant}", ct);
                await ExecAsync(conn, $"GRANT SELECT, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {schema} TO {tenant}", ct);
                await ExecAsync(conn, $"GRANT SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {tenant}", ct);
            }
        }
        else
        {
            foreach (var schema in schemas.Select(PostgresQuote))
            {
                await ExecAsync(conn, $"REVOKE SELECT ON ALL SEQUENCES IN SCHEMA {schema} FROM {tenant}", ct);
                await ExecAsync(conn, $"REVOKE SELECT, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {schema} FROM {tenant}", ct);
                await ExecAsync(conn, $"REVOKE USAGE ON SCHEMA {schema} FROM {tenant}", ct);
                await ExecAsync(conn, $"GRANT INSERT, UPDATE ON ALL TABLES IN SCHEMA {schema} TO {holder}", ct);
            }
            await ExecAsync(conn, $"REVOKE CONNECT ON DATABASE {PostgresQuote(spec.DbName)} FROM {tenant}", ct);
            await ExecAsync(conn, $"GRANT EXECUTE ON FUNCTION {LargeObjectWriters} TO {tenant}", ct);
            await ExecAsync(conn, $"REASSIGN OWNED BY {holder} TO {tenant}", ct);
            await ExecAsync(conn, $"DROP OWNED BY {holder}", ct); // only grants to the holder remain; the role can then go
        }
        await tx.CommitAsync(ct);
        if (!blocked) await ExecAsync(admin, $"DROP ROLE {holder}", ct);
        await TerminateSessionsAsync(admin, spec.User, ct);
    }, ct);

    /// <summary>Sizes of the named tenant databases in one query.</summary>
    public Task<SizeScan> MeasureSizesAsync(IReadOnlyCollection<string> dbNames, CancellationToken ct) => RunAsync(async conn =>
    {
        // pg_database_size walks a database's files: only the named databases are sized.
        await using var cmd = new NpgsqlCommand("SELECT datname, pg_database_size(oid) FROM pg_database WHERE datname = ANY(@names)", conn);
        cmd.Parameters.AddWithValue("names", dbNames.ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var sizes = new Dictionary<string, long>();
        while (await reader.ReadAsync(ct))
            if (Pattern().IsMatch(reader.GetString(0))) sizes[reader.GetString(0)] = reader.GetInt64(1);
        return new SizeScan(sizes, 1);
    }, ct);

    /// <summary>One pg_stat_activity query grouped by user, filtered to the named users on the server.</summary>
    public Task<IReadOnlyDictionary<string, int>> CountConnectionsAsync(IReadOnlyCollection<string> users, CancellationToken ct) => RunAsync(async conn =>
    {
        var counts = new Dictionary<string, int>();
        if (users.Count == 0) return (IReadOnlyDictionary<string, int>)counts;
        await using var cmd = new NpgsqlCommand("SELECT usename, count(*) FROM pg_stat_activity WHERE usename = ANY(@users) GROUP BY usename", conn);
        cmd.Parameters.AddWithValue("users", users.ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) counts[reader.GetString(0)] = (int)reader.GetInt64(1);
        return counts;
    }, ct);

    /// <summary>The functions that create or write large objects (client-side <c>lo_import</c> and <c>lo_write</c> go
    /// through <c>lo_creat</c>/<c>lo_create</c> and <c>lowrite</c> by the fast-path, which checks EXECUTE too).</summary>
    private const string LargeObjectWriters =
        "lo_create(oid), lo_creat(integer), lo_from_bytea(oid, bytea), lo_import(text), lo_import(text, oid), lowrite(integer, bytea), lo_put(oid, bigint, bytea)";

    /// <summary>The NOLOGIN role that owns a tenant's objects while it is over quota.</summary>
    internal static string HolderRole(string user) => user + "_q";

    public Task<TenantObjects> ListTenantObjectsAsync(CancellationToken ct) => RunAsync(async conn =>
    {
        var databases = await ListAsync(conn, "SELECT datname FROM pg_database", ct);
        var users = await ListAsync(conn, "SELECT rolname FROM pg_roles", ct);
        return new TenantObjects(databases.Where(n => Pattern().IsMatch(n)).ToList(), users.Where(n => Pattern().IsMatch(n)).ToList());
    }, ct);

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "Runs the caller's statement as the tenant, on its own connection: health checks, benchmarks and tests, never API input.")]
    public async Task<string?> ScalarAsTenantAsync(string dbName, string user, string password, string sql, CancellationToken ct)
    {
        var cs = new NpgsqlConnectionStringBuilder(AdminConnectionString(dbName)) { Username = user, Password = password, Pooling = false };
        await using var conn = new NpgsqlConnection(cs.ConnectionString);
        await conn.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (await cmd.ExecuteScalarAsync(ct))?.ToString();
    }

    public string ConnectionString(string dbName, string user, string password) =>
        $"postgresql://{user}:{password}@{Server.EffectivePublicHost}:{Server.EffectivePublicPort}/{dbName}"
        + Server.ConnectionQuery("sslmode=require");

    /// <summary>Opens an admin connection to <paramref name="database"/> (for work inside a tenant database).</summary>
    internal async Task<NpgsqlConnection> OpenAdminAsync(string database, CancellationToken ct, bool pooled = true)
    {
        var conn = new NpgsqlConnection(AdminConnectionString(database, pooled));
        try
        {
            await conn.OpenAsync(ct);
            return conn;
        }
        catch (Exception e) when (IsUnreachable(e))
        {
            await conn.DisposeAsync();
            throw new EngineUnavailableException(Kind, e.Message, e);
        }
    }

    /// <summary>Forgets pooled admin connections to <paramref name="database"/> (after it was dropped, they are dead).</summary>
    internal void ClearAdminPool(string database)
    {
        using var conn = new NpgsqlConnection(AdminConnectionString(database));
        NpgsqlConnection.ClearPool(conn);
    }

    internal static async Task TerminateSessionsAsync(NpgsqlConnection conn, string user, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", conn);
        cmd.Parameters.AddWithValue(user);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>PUBLIC may connect to <c>postgres</c> and <c>template1</c> by default; tenants must not. Done once per server.</summary>
    private async Task HardenServerAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        if (_hardened) return;
        await _hardenOnce.WaitAsync(ct);
        try
        {
            if (_hardened) return;
            await ExecAsync(conn, "REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC", ct);
            await ExecAsync(conn, "REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC", ct);
            _hardened = true;
        }
        finally
        {
            _hardenOnce.Release();
        }
    }

    /// <summary>The admin connection string for <paramref name="database"/>; the same text each time, so that
    /// <see cref="ClearAdminPool"/> finds the pool <see cref="OpenAdminAsync"/> used.</summary>
    private string AdminConnectionString(string database, bool pooled = true) => new NpgsqlConnectionStringBuilder
    {
        Pooling = pooled,
        Host = Server.Host,
        Port = Server.Port,
        Username = Server.AdminUser ?? "postgres",
        Password = Server.AdminPassword,
        Database = database,
        Timeout = (int)Math.Max(1, Math.Ceiling(Server.ConnectTimeout.TotalSeconds)),
        CommandTimeout = 60,
        ApplicationName = "hepdb",
    }.ConnectionString;

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken ct)
    {
        try
        {
            return await _admin.OpenConnectionAsync(ct);
        }
        catch (Exception e) when (IsUnreachable(e))
        {
            throw new EngineUnavailableException(Kind, e.Message, e, beforeAnyChange: true);
        }
    }

    internal async Task RunAsync(Func<NpgsqlConnection, Task> work, CancellationToken ct) =>
        await RunAsync<object?>(async c => { await work(c); return null; }, ct);

    internal async Task<T> RunAsync<T>(Func<NpgsqlConnection, Task<T>> work, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var conn = await OpenAsync(ct);
            try
            {
                return await work(conn);
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure && attempt < 3)
            {
                // The server chose this statement to end a deadlock with another session's DDL on the shared catalogs
                // (grants, ownership), and rolled it back: every operation here is idempotent, so it runs again.
                await Task.Delay(Random.Shared.Next(20, 100) * attempt, ct);
            }
            catch (PostgresException e)
            {
                throw new EngineCommandException(Kind, e.SqlState, e.MessageText, e);
            }
            catch (Exception e) when (IsUnreachable(e))
            {
                throw new EngineUnavailableException(Kind, e.Message, e);
            }
        }
    }

    private static bool IsUnreachable(Exception e) => e switch
    {
        PostgresException pe => pe.SqlState is "57P01" or "57P02" or "57P03" or "53300",
        NpgsqlException { InnerException: SocketException or TimeoutException or IOException } => true,
        NpgsqlException ne when ne.Message.Contains("Failed to connect", StringComparison.Ordinal) => true,
        TimeoutException or SocketException => true,
        _ => false,
    };

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "DDL takes no parameters: statements are built only from names that passed TenantNames.Require and literals from TenantNames.Literal. Values go as parameters.")]
    internal static async Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "DDL takes no parameters: statements are built only from names that passed TenantNames.Require and literals from TenantNames.Literal. Values go as parameters.")]
    internal static async Task<bool> ExistsAsync(NpgsqlConnection conn, string sql, string arg, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        cmd.Parameters.AddWithValue(arg);
        return await cmd.ExecuteScalarAsync(ct) is not null;
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "DDL takes no parameters: statements are built only from names that passed TenantNames.Require and literals from TenantNames.Literal. Values go as parameters.")]
    private static async Task<List<string>> ListAsync(NpgsqlConnection conn, string sql, CancellationToken ct, params string[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var arg in args) cmd.Parameters.AddWithValue(arg);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var list = new List<string>();
        while (await reader.ReadAsync(ct)) list.Add(reader.GetString(0));
        return list;
    }

    public async ValueTask DisposeAsync()
    {
        await _admin.DisposeAsync();
        _hardenOnce.Dispose();
    }
}
