using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using HepDb.Hosting;
using MySqlConnector;
using static HepDb.Engines.TenantNames;

namespace HepDb.Engines.MariaDb;

/// <summary>
/// MariaDB tenants: <c>CREATE DATABASE</c> plus one user <c>'du…'@'%'</c> with database-level privileges on exactly that
/// database (the '_' in the grant pattern escaped, so it matches no other tenant), no global privileges (so it cannot
/// see other databases, read files or create users), <c>MAX_USER_CONNECTIONS</c> from the tier and <c>REQUIRE SSL</c>
/// when the server requires TLS. Passwords reach the server only as their <c>mysql_native_password</c> hash, so no
/// cleartext lands in server logs.
/// <para>An IP allowlist replaces the <c>'%'</c> host of the user by one account per allowed range
/// (<c>'du…'@'203.0.113.0/255.255.255.0'</c>), each a copy of the others (password, limit, TLS, lock, grants); every
/// operation applies to all of a user's accounts.</para>
/// <para>Admin work goes through one pooled <see cref="MySqlDataSource"/> per server (MySqlConnector), async end to
/// end. A pooled connection is reset (one round trip) when it is taken, inside <c>ConnectionTimeout</c>, so a server
/// that stopped answering is found out at open time, within the timeout, before anything is sent.</para>
/// </summary>
public sealed class MariaDbAdapter : IEngineAdapter, IAsyncDisposable
{
    /// <summary>What a normal application needs inside its own database. No GRANT OPTION, no global privileges.</summary>
    public const string TenantPrivileges =
        "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, " +
        "CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER, REFERENCES, DELETE HISTORY";

    /// <summary>Over quota keeps SELECT, DELETE, DROP (DROP TABLE and TRUNCATE free space), EXECUTE, SHOW VIEW and
    /// DELETE HISTORY; everything that can grow data is revoked.</summary>
    public const string GrowthPrivileges =
        "INSERT, UPDATE, CREATE, ALTER, INDEX, CREATE VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER, " +
        "CREATE TEMPORARY TABLES, LOCK TABLES, REFERENCES";

    /// <summary>The character set and collation of every tenant database.</summary>
    internal const string DatabaseOptions = "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci";

    private readonly MySqlDataSource _admin;

    public MariaDbAdapter(EngineServerOptions server)
    {
        Server = server;
        _admin = new MySqlDataSource(ConnectionStringFor(server, server.AdminUser ?? "root", server.AdminPassword, database: null, pooling: true));
        Dumps = new MariaDbDumps(this);
    }

    public EngineKind Kind => EngineKind.MariaDb;
    public EngineServerOptions Server { get; }

    /// <summary><c>mariadb-dump</c> and the <c>mariadb</c> client with this server's admin credentials.</summary>
    public IEngineDumps Dumps { get; }

    public async Task<EngineProbe> ProbeAsync(CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            return await RunAsync(async c =>
            {
                // VERSION() rather than the handshake's version, which MariaDB prefixes with "5.5.5-" for old clients.
                var version = await ScalarAsync(c, "SELECT VERSION()", ct);
                return new EngineProbe(true, version, sw.Elapsed, null);
            }, ct);
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            return new EngineProbe(false, null, sw.Elapsed, e.Message);
        }
    }

    /// <summary>The four statements go in one batch (one round trip); the server runs them in order and stops at the
    /// first refusal, which the caller undoes like any half-done creation.</summary>
    public Task CreateTenantAsync(TenantSpec spec, CancellationToken ct) => RunAsync(c =>
    {
        var user = Account(spec.User, AnyHost);
        var hash = Literal(NativePasswordHash(spec.Password));
        return ExecAsync(c, string.Join(";\n",
            $"CREATE DATABASE IF NOT EXISTS {MariaDbQuote(spec.DbName)} {DatabaseOptions}",
            $"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY PASSWORD {hash} {TlsClause} WITH MAX_USER_CONNECTIONS {spec.ConnectionLimit}",
            // Converge a user left by an earlier, interrupted attempt to exactly this password and limit.
            $"ALTER USER {user} IDENTIFIED BY PASSWORD {hash} {TlsClause} WITH MAX_USER_CONNECTIONS {spec.ConnectionLimit}",
            $"GRANT {TenantPrivileges} ON {MariaDbGrantPattern(spec.DbName)}.* TO {user}"), ct);
    }, ct);

    public Task DropTenantAsync(string dbName, string user, CancellationToken ct) => RunAsync(async c =>
    {
        var accounts = await AccountsAsync(c, user, ct);
        foreach (var account in accounts) await ExecAsync(c, $"ALTER USER {account} ACCOUNT LOCK", ct);
        if (accounts.Count > 0) await KillSessionsAsync(c, user, ct);
        await ExecAsync(c, $"DROP DATABASE IF EXISTS {MariaDbQuote(dbName)}", ct);
        foreach (var account in accounts) await ExecAsync(c, $"DROP USER IF EXISTS {account}", ct);
    }, ct);

    public Task SetPasswordAsync(string user, string password, CancellationToken ct) => RunAsync(async c =>
    {
        foreach (var account in await AccountsAsync(c, user, ct))
            await ExecAsync(c, $"ALTER USER {account} IDENTIFIED BY PASSWORD {Literal(NativePasswordHash(password))}", ct);
    }, ct);

    public Task SetConnectionLimitAsync(TenantSpec spec, CancellationToken ct) => RunAsync(async c =>
    {
        foreach (var account in await AccountsAsync(c, spec.User, ct))
            await ExecAsync(c, $"ALTER USER {account} WITH MAX_USER_CONNECTIONS {spec.ConnectionLimit}", ct);
    }, ct);

    public Task LockAsync(TenantSpec spec, CancellationToken ct) => RunAsync(async c =>
    {
        foreach (var account in await AccountsAsync(c, spec.User, ct)) await ExecAsync(c, $"ALTER USER {account} ACCOUNT LOCK", ct);
        await KillSessionsAsync(c, spec.User, ct);
    }, ct);

    public Task UnlockAsync(TenantSpec spec, bool writesBlocked, CancellationToken ct) => RunAsync(async c =>
    {
        var accounts = await AccountsAsync(c, spec.User, ct);
        await ApplyWriteGrantsAsync(c, accounts, spec.DbName, writesBlocked, ct);
        foreach (var account in accounts)
            await ExecAsync(c, $"ALTER USER {account} IDENTIFIED BY PASSWORD {Literal(NativePasswordHash(spec.Password))} " +
                               $"{TlsClause} WITH MAX_USER_CONNECTIONS {spec.ConnectionLimit} ACCOUNT UNLOCK", ct);
    }, ct);

    /// <summary>IPv4 ranges become netmask hosts; MariaDB has no IPv6 netmask, so an IPv6 entry must be one address.</summary>
    public string? AllowlistProblem(IReadOnlyList<IPNetwork> cidrs) =>
        cidrs.Where(n => n.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6 && n.PrefixLength != 128)
            .Select(n => $"MariaDB can allow IPv6 clients only one address at a time (/128), not {n}.").FirstOrDefault();

    /// <summary>Adds an account for each newly allowed range as a copy of an existing one (<c>SHOW CREATE USER</c> and
    /// <c>SHOW GRANTS</c> carry its password, limit, TLS, lock and write block), then drops the accounts no longer
    /// allowed and ends their sessions. New accounts come first, so the user never has none.</summary>
    public Task SetAllowlistAsync(TenantSpec spec, IReadOnlyList<IPNetwork> cidrs, CancellationToken ct) => RunAsync(async c =>
    {
        var wanted = (cidrs.Count == 0 ? [AnyHost] : cidrs.Select(HostOf)).Select(h => Account(spec.User, h)).ToList();
        var current = await AccountsAsync(c, spec.User, ct);
        if (current.Count == 0) throw new EngineCommandException(Kind, "1133", $"The user {spec.User} does not exist.");
        var template = current[0]; // every account of the user is a copy of the others
        var create = await ScalarAsync(c, $"SHOW CREATE USER {template}", ct) ?? "";
        var grants = (await QueryAsync(c, $"SHOW GRANTS FOR {template}", ct)).Select(r => r[0]!).ToList();
        var templateName = Backticked(template);
        foreach (var account in wanted.Except(current))
        {
            await ExecAsync(c, create.Replace(templateName, Backticked(account), StringComparison.Ordinal), ct);
            foreach (var grant in grants) await ExecAsync(c, grant.Replace(templateName, Backticked(account), StringComparison.Ordinal), ct);
        }
        foreach (var account in current.Except(wanted))
        {
            await ExecAsync(c, $"DROP USER IF EXISTS {account}", ct);
            await ExecAsync(c, $"KILL HARD USER {account}", ct);
        }
    }, ct);

    /// <summary>Keeps every tenant account's TLS requirement as the server's setting says (REQUIRE SSL, or none), so
    /// databases made before TLS was required follow it too. One query when nothing is to change.</summary>
    public Task ConvergeServerAsync(CancellationToken ct) => RunAsync(async c =>
    {
        var wrong = Server.EffectiveRequireTls ? "ssl_type <> 'ANY'" : "ssl_type <> ''";
        foreach (var row in await QueryAsync(c, $"SELECT User, Host FROM mysql.user WHERE User LIKE 'du%' AND {wrong}", ct))
            if (Pattern().IsMatch(row[0]!))
                await ExecAsync(c, $"ALTER USER {Account(row[0]!, row[1]!)} {TlsClause}", ct);
    }, ct);

    /// <summary>MariaDB privileges are not owner-based and the tenant has no GRANT OPTION, so a REVOKE cannot be undone
    /// by the tenant. Database privileges are cached per session, hence the KILL.</summary>
    public Task SetWritesBlockedAsync(TenantSpec spec, bool blocked, CancellationToken ct) => RunAsync(async c =>
    {
        await ApplyWriteGrantsAsync(c, await AccountsAsync(c, spec.User, ct), spec.DbName, blocked, ct);
        await KillSessionsAsync(c, spec.User, ct);
    }, ct);

    public Task<SizeScan> MeasureSizesAsync(IReadOnlyCollection<string> dbNames, CancellationToken ct) => RunAsync(async c =>
    {
        if (dbNames.Count == 0) return new SizeScan(new Dictionary<string, long>(), 0); // reachable (the connection opened), nothing to measure
        // information_schema filters schemas by name before it opens any of their tables, so other schemas cost nothing.
        var names = string.Join(",", dbNames.Select(n => $"'{TenantNames.Require(n)}'"));
        var rows = await QueryAsync(c, "SELECT table_schema, CAST(SUM(data_length + index_length) AS UNSIGNED) FROM information_schema.TABLES " +
                                       $"WHERE table_schema IN ({names}) GROUP BY table_schema", ct);
        var sizes = rows.Where(r => Pattern().IsMatch(r[0]!)).ToDictionary(r => r[0]!, r => long.Parse(r[1] ?? "0"));
        return new SizeScan(sizes, 1);
    }, ct);

    /// <summary>One PROCESSLIST query grouped by user, filtered to the named users on the server.</summary>
    public Task<IReadOnlyDictionary<string, int>> CountConnectionsAsync(IReadOnlyCollection<string> users, CancellationToken ct) => RunAsync(async c =>
    {
        if (users.Count == 0) return (IReadOnlyDictionary<string, int>)new Dictionary<string, int>();
        var names = string.Join(",", users.Select(n => $"'{TenantNames.Require(n)}'"));
        var rows = await QueryAsync(c, $"SELECT USER, COUNT(*) FROM information_schema.PROCESSLIST WHERE USER IN ({names}) GROUP BY USER", ct);
        return rows.ToDictionary(r => r[0]!, r => int.Parse(r[1] ?? "0", System.Globalization.CultureInfo.InvariantCulture));
    }, ct);

    public Task<TenantObjects> ListTenantObjectsAsync(CancellationToken ct) => RunAsync(async c =>
    {
        var databases = (await QueryAsync(c, "SHOW DATABASES", ct)).Select(r => r[0]!).Where(n => Pattern().IsMatch(n)).ToList();
        var users = (await QueryAsync(c, "SELECT DISTINCT User FROM mysql.user", ct)).Select(r => r[0]!).Where(n => Pattern().IsMatch(n)).ToList();
        return new TenantObjects(databases, users);
    }, ct);

    /// <summary>A fresh, unpooled connection as the tenant: a pooled one would stay open afterwards and count against the
    /// tenant's own <c>MAX_USER_CONNECTIONS</c>.</summary>
    public async Task<string?> ScalarAsTenantAsync(string dbName, string user, string password, string sql, CancellationToken ct)
    {
        try
        {
            await using var c = new MySqlConnection(ConnectionStringFor(Server, user, password, dbName, pooling: false));
            await c.OpenAsync(ct);
            return await ScalarAsync(c, sql, ct);
        }
        catch (MySqlException e)
        {
            throw Translate(e);
        }
    }

    public string ConnectionString(string dbName, string user, string password) =>
        $"mysql://{user}:{password}@{Server.EffectivePublicHost}:{Server.EffectivePublicPort}/{dbName}"
        + Server.ConnectionQuery("ssl-mode=REQUIRED");

    /// <summary>The <c>mysql_native_password</c> hash: <c>*</c> + upper-case hex of SHA1(SHA1(password)).</summary>
#pragma warning disable CA5350 // SHA-1 is what mysql_native_password is defined as; the server compares this exact hash.
    public static string NativePasswordHash(string password) =>
        "*" + Convert.ToHexString(SHA1.HashData(SHA1.HashData(Encoding.UTF8.GetBytes(password))));
#pragma warning restore CA5350

    /// <summary>A MySqlConnector connection string for <paramref name="server"/>. A <see cref="EngineServerOptions.Host"/>
    /// that is a path (starts with '/') is a Unix socket. The timeout covers opening, including the reset of a pooled
    /// connection; commands get a minute (DDL on a busy server can queue behind a metadata lock).</summary>
    internal static string ConnectionStringFor(EngineServerOptions server, string user, string? password, string? database, bool pooling) =>
        new MySqlConnectionStringBuilder
        {
            Server = server.Host,
            Port = (uint)server.Port,
            UserID = user,
            Password = password ?? "",
            Database = database ?? "",
            ConnectionTimeout = (uint)Math.Max(1, Math.Ceiling(server.ConnectTimeout.TotalSeconds)),
            DefaultCommandTimeout = 60,
            Pooling = pooling,
            ConnectionReset = true,
            ApplicationName = "hepdb",
        }.ConnectionString;

    private static async Task ApplyWriteGrantsAsync(MySqlConnection c, List<string> accounts, string dbName, bool blocked, CancellationToken ct)
    {
        var on = $"{MariaDbGrantPattern(dbName)}.*";
        foreach (var account in accounts)
        {
            await ExecAsync(c, $"GRANT {TenantPrivileges} ON {on} TO {account}", ct);
            if (blocked) await ExecAsync(c, $"REVOKE {GrowthPrivileges} ON {on} FROM {account}", ct);
        }
    }

    private const string AnyHost = "%";

    private string TlsClause => Server.EffectiveRequireTls ? "REQUIRE SSL" : "REQUIRE NONE";

    private static string Account(string user, string host) => $"'{Require(user)}'@'{host.Replace("'", "''", StringComparison.Ordinal)}'";

    /// <summary>The account as SHOW CREATE USER and SHOW GRANTS print it.</summary>
    private static string Backticked(string account) => account.Replace('\'', '`');

    /// <summary>Every account of the user: <c>'%'</c>, or one per allowed range.</summary>
    private static async Task<List<string>> AccountsAsync(MySqlConnection c, string user, CancellationToken ct) =>
        (await QueryAsync(c, $"SELECT Host FROM mysql.user WHERE User = '{Require(user)}' ORDER BY Host", ct)).Select(r => Account(user, r[0]!)).ToList();

    /// <summary>The host part MariaDB matches a client address against: an IPv4 range as address/netmask (one address
    /// alone), an IPv6 address as itself.</summary>
    internal static string HostOf(IPNetwork range)
    {
        if (range.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6 || range.PrefixLength == 32) return range.BaseAddress.ToString();
        var mask = range.PrefixLength == 0 ? 0u : uint.MaxValue << (32 - range.PrefixLength);
        return $"{range.BaseAddress}/{new IPAddress([(byte)(mask >> 24), (byte)(mask >> 16), (byte)(mask >> 8), (byte)mask])}";
    }

    /// <summary>Locking or revoking does not affect open sessions, so they are killed. KILL USER is repeated once to
    /// catch a connection that was mid-handshake during the first pass.</summary>
    internal static async Task KillSessionsAsync(MySqlConnection c, string user, CancellationToken ct)
    {
        // A user name alone (no host) means every account of the user.
        await ExecAsync(c, $"KILL HARD USER '{Require(user)}'", ct);
        await ExecAsync(c, $"KILL HARD USER '{Require(user)}'", ct);
    }

    /// <summary>Statements go as text: DDL takes no placeholders, so callers build SQL only from names that passed
    /// <see cref="TenantNames.Require"/> and literals from <see cref="TenantNames.Literal"/>.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "DDL takes no parameters: statements are built only from names that passed TenantNames.Require and literals from TenantNames.Literal.")]
    internal static async Task ExecAsync(MySqlConnection c, string sql, CancellationToken ct)
    {
        await using var cmd = new MySqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "DDL takes no parameters: statements are built only from names that passed TenantNames.Require and literals from TenantNames.Literal.")]
    internal static async Task<string?> ScalarAsync(MySqlConnection c, string sql, CancellationToken ct)
    {
        await using var cmd = new MySqlCommand(sql, c);
        var value = await cmd.ExecuteScalarAsync(ct);
        return value is null or DBNull ? null : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "DDL takes no parameters: statements are built only from names that passed TenantNames.Require and literals from TenantNames.Literal.")]
    internal static async Task<List<string?[]>> QueryAsync(MySqlConnection c, string sql, CancellationToken ct)
    {
        await using var cmd = new MySqlCommand(sql, c);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<string?[]>();
        while (await reader.ReadAsync(ct))
        {
            var row = new string?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
                row[i] = reader.IsDBNull(i) ? null : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>The server could not be reached, stopped answering, or went away mid-command (not a refusal).</summary>
    internal static bool IsUnreachable(MySqlException e) =>
        e.ErrorCode is MySqlErrorCode.UnableToConnectToHost or MySqlErrorCode.CommandTimeoutExpired or MySqlErrorCode.ServerShutdown
        || e.Number == 1927 // ER_CONNECTION_KILLED (MariaDB only): the connection was killed by the server or an admin
        || e.InnerException is IOException or SocketException or EndOfStreamException or TimeoutException;

    private Exception Translate(MySqlException e) => IsUnreachable(e)
        ? new EngineUnavailableException(Kind, e.Message, e)
        : new EngineCommandException(Kind, e.Number.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message, e);

    /// <summary>Takes an admin connection from the pool (a failure there, including a refused admin login, changed
    /// nothing: <c>beforeAnyChange</c>), runs the work and maps driver errors to the seam's exceptions. The caller's
    /// token cancels the command on the server too (MySqlConnector sends KILL QUERY).</summary>
    internal async Task<T> RunAsync<T>(Func<MySqlConnection, Task<T>> work, CancellationToken ct)
    {
        MySqlConnection c;
        try
        {
            c = await _admin.OpenConnectionAsync(ct);
        }
        catch (MySqlException e)
        {
            var why = IsUnreachable(e) ? e.Message : $"the admin login was refused: {e.Message}";
            throw new EngineUnavailableException(Kind, why, e, beforeAnyChange: true);
        }
        await using var _ = c;
        try
        {
            return await work(c);
        }
        catch (MySqlException e)
        {
            throw Translate(e);
        }
    }

    internal Task RunAsync(Func<MySqlConnection, Task> work, CancellationToken ct) =>
        RunAsync<object?>(async c => { await work(c); return null; }, ct);

    public ValueTask DisposeAsync() => _admin.DisposeAsync();
}
