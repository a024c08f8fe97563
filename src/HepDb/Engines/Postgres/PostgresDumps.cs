using System.Globalization;
using HepDb.Hosting;
using Npgsql;
using static HepDb.Engines.TenantNames;

namespace HepDb.Engines.Postgres;

/// <summary>
/// PostgreSQL dumps: <c>pg_dump</c>'s custom archive of one database, without ownership or privileges (they belong to
/// the server the dump came from), restored with <c>pg_restore --role=&lt;tenant&gt;</c> in one transaction so every
/// object is created by, and owned by, the tenant's role (also while it is NOLOGIN: SET ROLE needs no LOGIN). The admin
/// password is in a 0600 passfile named by <c>PGPASSFILE</c>. The newest installed pg_dump is used (it reads every
/// older server).
/// </summary>
internal sealed class PostgresDumps(PostgresAdapter adapter) : IEngineDumps
{
    private EngineServerOptions Server => adapter.Server;

    public EngineKind Kind => EngineKind.Postgres;
    public DumpFormat Format => DumpFormat.PostgresCustom;

    public async Task<DumpInfo> DumpAsync(string dbName, Stream output, bool compressed, CancellationToken ct)
    {
        Require(dbName);
        var version = await adapter.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand("SHOW server_version", conn);
            return (string?)await cmd.ExecuteScalarAsync(ct);
        }, ct);
        await RunAsync("pg_dump", dbName,
        [
            .. compressed ? Array.Empty<string>() : ["--compress=0"], // else pg_dump's default, as a bare pg_dump -Fc
            "--format=custom", "--no-owner", "--no-privileges", "--no-tablespaces",
            "--no-publications", "--no-subscriptions",
        ], input: null, output, ct);
        return new DumpInfo(version ?? "");
    }

    /// <summary>As <see cref="PostgresAdapter.CreateTenantAsync"/> makes it. A tenant over quota (its holder role
    /// exists) stays so: the holder, which owned only things in the dropped database, is dropped with it, and the write
    /// block is applied again to the new, empty database.</summary>
    public async Task RecreateDatabaseAsync(TenantSpec spec, CancellationToken ct)
    {
        var blocked = await adapter.RunAsync(async conn =>
        {
            var holder = PostgresAdapter.HolderRole(spec.User);
            var isBlocked = await PostgresAdapter.ExistsAsync(conn, "SELECT 1 FROM pg_roles WHERE rolname = $1", holder, ct);
            await PostgresAdapter.TerminateSessionsAsync(conn, spec.User, ct);
            await PostgresAdapter.ExecAsync(conn, $"DROP DATABASE IF EXISTS {PostgresQuote(spec.DbName)} WITH (FORCE)", ct);
            if (isBlocked) await PostgresAdapter.ExecAsync(conn, $"DROP ROLE IF EXISTS {PostgresQuote(holder)}", ct);
            await PostgresAdapter.CreateDatabaseAsync(conn, spec, ct);
            return isBlocked;
        }, ct);
        adapter.ClearAdminPool(spec.DbName);
        if (blocked) await adapter.SetWritesBlockedAsync(spec, blocked: true, ct);
    }

    /// <summary>Restores as the tenant's role. A tenant over quota cannot create anything, so its block is lifted for
    /// the load (its sessions are ended by that) and applied again afterwards, whether the load succeeded or not.</summary>
    public async Task LoadAsync(TenantSpec spec, Stream input, CancellationToken ct)
    {
        Require(spec.User);
        var blocked = await adapter.RunAsync(conn =>
            PostgresAdapter.ExistsAsync(conn, "SELECT 1 FROM pg_roles WHERE rolname = $1", PostgresAdapter.HolderRole(spec.User), ct), ct);
        if (blocked) await adapter.SetWritesBlockedAsync(spec, blocked: false, ct);
        try
        {
            await RunAsync("pg_restore", spec.DbName,
            [
                "--no-owner", "--no-privileges", "--no-tablespaces", $"--role={spec.User}",
                "--single-transaction", "--exit-on-error",
            ], input, output: null, ct);
        }
        finally
        {
            if (blocked) await adapter.SetWritesBlockedAsync(spec, blocked: true, CancellationToken.None);
        }
    }

    /// <summary>An import runs as the tenant's own role: psql for plain SQL, pg_restore for a custom archive, each in one
    /// transaction that stops at the first error, so a failed import leaves nothing of itself.</summary>
    public Task ImportAsync(TenantSpec spec, Stream input, DumpFormat format, CancellationToken ct) => format == DumpFormat.PlainSql
        ? RunAsync("psql", spec.DbName, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "--file=-"], input, null, ct, spec.User, spec.Password)
        : RunAsync("pg_restore", spec.DbName, ["--no-owner", "--no-privileges", "--no-tablespaces", "--single-transaction", "--exit-on-error"], input, null, ct, spec.User, spec.Password);

    /// <summary>Runs a PostgreSQL tool against <paramref name="dbName"/> as the administrator (or, for an import, as the
    /// tenant): host, port and user as arguments, the password only in the passfile.</summary>
    private Task RunAsync(string tool, string dbName, string[] options, Stream? input, Stream? output, CancellationToken ct,
        string? asUser = null, string? asPassword = null)
    {
        var user = asUser ?? Server.AdminUser ?? "postgres";
        var password = asUser is null ? Server.AdminPassword ?? "" : asPassword ?? "";
        var passfile = $"*:*:*:{DumpTool.PassfileField(user)}:{DumpTool.PassfileField(password)}\n";
        return DumpTool.RunAsync(Kind, DumpTool.PostgresTool(tool), passfile,
            _ =>
            [
                .. options,
                "--no-password",
                $"--host={Server.Host}",
                $"--port={Server.Port.ToString(CultureInfo.InvariantCulture)}",
                $"--username={user}",
                $"--dbname={Require(dbName)}",
            ],
            file => new Dictionary<string, string>
            {
                ["PGPASSFILE"] = file,
                ["PGCONNECT_TIMEOUT"] = Math.Max(2, (int)Math.Ceiling(Server.ConnectTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture),
                ["PGAPPNAME"] = "hepdb-" + tool,
            },
            password, input, output, ct);
    }
}
