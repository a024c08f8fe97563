using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using HepDb.Hosting;
using static HepDb.Engines.TenantNames;

namespace HepDb.Engines.MariaDb;

/// <summary>
/// MariaDB tenants: <c>CREATE DATABASE</c> plus one user <c>'du…'@'%'</c> with database-level privileges on exactly that
/// database (the '_' in the grant pattern escaped, so it matches no other tenant), no global privileges (so it cannot
/// see other databases, read files or create users), and <c>MAX_USER_CONNECTIONS</c> from the tier. Passwords reach the
/// server only as their <c>mysql_native_password</c> hash, so no cleartext lands in server logs.
/// </summary>
public sealed class MariaDbAdapter(EngineServerOptions server) : IEngineAdapter
{
    /// <summary>What a normal application needs inside its own database. No GRANT OPTION, no global privileges.</summary>
    public const string TenantPrivileges =
        "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, " +
        "CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER, REFERENCES, DELETE HISTORY";

    public EngineKind Kind => EngineKind.MariaDb;
    public EngineServerOptions Server { get; } = server;

    public Task<EngineProbe> ProbeAsync(CancellationToken ct) => Task.Run(() =>
    {
        var sw = Stopwatch.StartNew();
        try
        {
            using var s = OpenAdmin();
            s.Scalar("SELECT 1");
            return new EngineProbe(true, s.ServerVersion, sw.Elapsed, null);
        }
        catch (Exception e) when (e is MariaDbException or EngineUnavailableException or EngineCommandException)
        {
            return new EngineProbe(false, null, sw.Elapsed, e.Message);
        }
    }, ct);

    public Task CreateTenantAsync(TenantSpec spec, CancellationToken ct) => Run(s =>
    {
        var user = Account(spec.User);
        var hash = Literal(NativePasswordHash(spec.Password));
        s.Execute($"CREATE DATABASE IF NOT EXISTS {MariaDbQuote(spec.DbName)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
        s.Execute($"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY PASSWORD {hash} WITH MAX_USER_CONNECTIONS {spec.ConnectionLimit}");
        // Converge a user left by an earlier, interrupted attempt to exactly this password and limit.
        s.Execute($"ALTER USER {user} IDENTIFIED BY PASSWORD {hash} WITH MAX_USER_CONNECTIONS {spec.ConnectionLimit}");
        s.Execute($"GRANT {TenantPrivileges} ON {MariaDbGrantPattern(spec.DbName)}.* TO {user}");
    }, ct);

    public Task DropTenantAsync(string dbName, string user, CancellationToken ct) => Run(s =>
    {
        var account = Account(user);
        if (UserExists(s, user))
        {
            s.Execute($"ALTER USER {account} ACCOUNT LOCK");
            KillSessions(s, user);
        }
        s.Execute($"DROP DATABASE IF EXISTS {MariaDbQuote(dbName)}");
        s.Execute($"DROP USER IF EXISTS {account}");
    }, ct);

    public Task SetPasswordAsync(string user, string password, CancellationToken ct) => Run(s =>
        s.Execute($"ALTER USER {Account(user)} IDENTIFIED BY PASSWORD {Literal(NativePasswordHash(password))}"), ct);

    public Task SetConnectionLimitAsync(TenantSpec spec, CancellationToken ct) => Run(s =>
        s.Execute($"ALTER USER {Account(spec.User)} WITH MAX_USER_CONNECTIONS {spec.ConnectionLimit}"), ct);

    public Task LockAsync(TenantSpec spec, CancellationToken ct) => Run(s =>
    {
        s.Execute($"ALTER USER {Account(spec.User)} ACCOUNT LOCK");
        KillSessions(s, spec.User);
    }, ct);

    public Task UnlockAsync(TenantSpec spec, bool writesBlocked, CancellationToken ct) => Run(s =>
    {
        ApplyWriteGrants(s, spec, writesBlocked);
        s.Execute($"ALTER USER {Account(spec.User)} IDENTIFIED BY PASSWORD {Literal(NativePasswordHash(spec.Password))} " +
                  $"WITH MAX_USER_CONNECTIONS {spec.ConnectionLimit} ACCOUNT UNLOCK");
    }, ct);

    /// <summary>MariaDB privileges are not owner-based and the tenant has no GRANT OPTION, so a REVOKE cannot be undone
    /// by the tenant. Database privileges are cached per session, hence the KILL.</summary>
    public Task SetWritesBlockedAsync(TenantSpec spec, bool blocked, CancellationToken ct) => Run(s =>
    {
        ApplyWriteGrants(s, spec, blocked);
        KillSessions(s, spec.User);
    }, ct);

    public Task<SizeScan> MeasureSizesAsync(CancellationToken ct) => Run(s =>
    {
        var rows = s.Query("SELECT table_schema, CAST(SUM(data_length + index_length) AS UNSIGNED) FROM information_schema.TABLES " +
                           "WHERE table_schema LIKE 'um\\_%' GROUP BY table_schema");
        var sizes = rows.Where(r => Pattern().IsMatch(r[0]!)).ToDictionary(r => r[0]!, r => long.Parse(r[1] ?? "0"));
        return new SizeScan(sizes, 1);
    }, ct);

    public Task<TenantObjects> ListTenantObjectsAsync(CancellationToken ct) => Run(s =>
    {
        var databases = s.Query("SHOW DATABASES").Select(r => r[0]!).Where(n => Pattern().IsMatch(n)).ToList();
        var users = s.Query("SELECT User FROM mysql.user WHERE Host = '%'").Select(r => r[0]!).Where(n => Pattern().IsMatch(n)).ToList();
        return new TenantObjects(databases, users);
    }, ct);

    public Task<string?> ScalarAsTenantAsync(string dbName, string user, string password, string sql, CancellationToken ct) =>
        Task.Run(() =>
        {
            using var s = Open(user, password, dbName);
            return s.Scalar(sql);
        }, ct);

    public string ConnectionString(string dbName, string user, string password) =>
        $"mysql://{user}:{password}@{Server.EffectivePublicHost}:{Server.EffectivePublicPort}/{dbName}"
        + (string.IsNullOrEmpty(Server.ConnectionStringParameters) ? "" : "?" + Server.ConnectionStringParameters);

    /// <summary>The <c>mysql_native_password</c> hash: <c>*</c> + upper-case hex of SHA1(SHA1(password)).</summary>
#pragma warning disable CA5350 // SHA-1 is what mysql_native_password is defined as; the server compares this exact hash.
    public static string NativePasswordHash(string password) =>
        "*" + Convert.ToHexString(SHA1.HashData(SHA1.HashData(Encoding.UTF8.GetBytes(password))));
#pragma warning restore CA5350

    /// <summary>Over quota keeps SELECT, DELETE, DROP (DROP TABLE and TRUNCATE free space), EXECUTE, SHOW VIEW and
    /// DELETE HISTORY; everything that can grow data is revoked.</summary>
    public const string GrowthPrivileges =
        "INSERT, UPDATE, CREATE, ALTER, INDEX, CREATE VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER, " +
        "CREATE TEMPORARY TABLES, LOCK TABLES, REFERENCES";

    private static void ApplyWriteGrants(MariaDbSession s, TenantSpec spec, bool blocked)
    {
        var on = $"{MariaDbGrantPattern(spec.DbName)}.*";
        s.Execute($"GRANT {TenantPrivileges} ON {on} TO {Account(spec.User)}");
        if (blocked) s.Execute($"REVOKE {GrowthPrivileges} ON {on} FROM {Account(spec.User)}");
    }

    private static string Account(string user) => $"'{Require(user)}'@'%'";

    private static bool UserExists(MariaDbSession s, string user) =>
        s.Scalar($"SELECT COUNT(*) FROM mysql.user WHERE User = '{Require(user)}' AND Host = '%'") != "0";

    /// <summary>Locking or revoking does not affect open sessions, so they are killed. KILL USER is repeated once to
    /// catch a connection that was mid-handshake during the first pass.</summary>
    private static void KillSessions(MariaDbSession s, string user)
    {
        s.Execute($"KILL HARD USER {Account(user)}");
        s.Execute($"KILL HARD USER {Account(user)}");
    }

    internal MariaDbSession OpenAdmin() =>
        Open(Server.AdminUser ?? "root", Server.AdminPassword, null);

    private MariaDbSession Open(string user, string? password, string? database)
    {
        try
        {
            return MariaDbSession.Open(Server.Host, Server.Port, user, password, database, Server.ConnectTimeout);
        }
        catch (MariaDbException e) when (e.IsUnreachable)
        {
            throw new EngineUnavailableException(Kind, e.ServerMessage, e);
        }
    }

    private Task Run(Action<MariaDbSession> work, CancellationToken ct) => Run<object?>(s => { work(s); return null; }, ct);

    private Task<T> Run<T>(Func<MariaDbSession, T> work, CancellationToken ct) => Task.Run(() =>
    {
        MariaDbSession s;
        try
        {
            s = OpenAdmin();
        }
        catch (EngineUnavailableException e)
        {
            throw new EngineUnavailableException(Kind, e.InnerException?.Message ?? e.Message, e.InnerException, beforeAnyChange: true);
        }
        using var _ = s;
        try
        {
            return work(s);
        }
        catch (MariaDbException e) when (e.IsUnreachable)
        {
            throw new EngineUnavailableException(Kind, e.ServerMessage, e);
        }
        catch (MariaDbException e)
        {
            throw new EngineCommandException(Kind, e.Number.ToString(), e.ServerMessage, e);
        }
    }, ct);
}
