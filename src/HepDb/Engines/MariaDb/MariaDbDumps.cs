using System.Globalization;
using System.Text;
using HepDb.Hosting;
using static HepDb.Engines.TenantNames;

namespace HepDb.Engines.MariaDb;

/// <summary>
/// MariaDB dumps: <c>mariadb-dump</c> of one database as plain SQL with no <c>CREATE DATABASE</c>/<c>USE</c> line (so it
/// loads into a database of any name), in one consistent snapshot (<c>--single-transaction</c>, no locks), with
/// routines, triggers and events; loaded with the <c>mariadb</c> client. Objects keep the DEFINER the dump names (the
/// tenant's user). The admin credentials go in a 0600 option file given with <c>--defaults-file</c>, the only option
/// file the tools read: with <c>--defaults-extra-file</c> a <c>~/.my.cnf</c> of the host would be read after it and
/// could replace the user, password, host or port.
/// </summary>
internal sealed class MariaDbDumps(MariaDbAdapter adapter) : IEngineDumps
{
    private const string Dump = "mariadb-dump";
    private const string Client = "mariadb";

    private EngineServerOptions Server => adapter.Server;

    public EngineKind Kind => EngineKind.MariaDb;
    public DumpFormat Format => DumpFormat.PlainSql;

    /// <summary>mariadb-dump writes plain SQL either way (BackupService compresses it).</summary>
    public async Task<DumpInfo> DumpAsync(string dbName, Stream output, bool compressed, CancellationToken ct)
    {
        Require(dbName);
        var version = await adapter.RunAsync(c => MariaDbAdapter.ScalarAsync(c, "SELECT VERSION()", ct), ct);
        await DumpTool.RunAsync(Kind, Dump, OptionFile(Server.AdminUser ?? "root", Server.AdminPassword), file =>
        [
            $"--defaults-file={file}", // must come first
            "--single-transaction", "--skip-lock-tables", "--skip-add-locks",
            "--routines", "--triggers", "--events",
            "--hex-blob", "--default-character-set=utf8mb4", "--no-tablespaces", "--no-create-db",
            "--max-allowed-packet=1G",
            dbName,
        ], null, Server.AdminPassword, input: null, output, ct);
        return new DumpInfo(version ?? "");
    }

    /// <summary>The tenant's database-level grants live in <c>mysql.db</c> by name and survive the DROP, so the new
    /// database is the tenant's again at once, with whatever write block applied before; re-granting here would lift
    /// a block, so it is left alone.</summary>
    public Task RecreateDatabaseAsync(TenantSpec spec, CancellationToken ct) => adapter.RunAsync(async c =>
    {
        var db = MariaDbQuote(spec.DbName);
        await MariaDbAdapter.KillSessionsAsync(c, spec.User, ct);
        await MariaDbAdapter.ExecAsync(c, $"DROP DATABASE IF EXISTS {db}", ct);
        await MariaDbAdapter.ExecAsync(c, $"CREATE DATABASE {db} {MariaDbAdapter.DatabaseOptions}", ct);
    }, ct);

    public async Task LoadAsync(TenantSpec spec, Stream input, CancellationToken ct)
    {
        await RunClientAsync(spec.DbName, OptionFile(Server.AdminUser ?? "root", Server.AdminPassword), Server.AdminPassword, input, ct);
        await RefreshStatisticsAsync(spec.DbName, ct);
    }

    public async Task ImportAsync(TenantSpec spec, Stream input, DumpFormat format, CancellationToken ct)
    {
        if (format != DumpFormat.PlainSql) throw new EngineCommandException(Kind, "format", "MariaDB imports plain SQL (.sql or .sql.gz) only.");
        await RunClientAsync(spec.DbName, OptionFile(spec.User, spec.Password), spec.Password, input, ct);
        await RefreshStatisticsAsync(spec.DbName, ct);
    }

    /// <summary>InnoDB's sizes in information_schema follow its statistics, which a fresh load leaves to a background
    /// thread; ANALYZE TABLE makes them current, so the measurement right after a restore or import is the real one.</summary>
    private Task RefreshStatisticsAsync(string dbName, CancellationToken ct) => adapter.RunAsync(async c =>
    {
        var tables = await MariaDbAdapter.QueryAsync(c, "SELECT table_name FROM information_schema.TABLES " +
            $"WHERE table_schema = '{Require(dbName)}' AND table_type = 'BASE TABLE'", ct);
        if (tables.Count == 0) return;
        var names = string.Join(", ", tables.Select(t => $"{MariaDbQuote(dbName)}.`{t[0]!.Replace("`", "``", StringComparison.Ordinal)}`"));
        await MariaDbAdapter.QueryAsync(c, $"ANALYZE TABLE {names}", ct);
    }, ct);

    private Task RunClientAsync(string dbName, string credentials, string? secret, Stream input, CancellationToken ct)
    {
        Require(dbName);
        return DumpTool.RunAsync(Kind, Client, credentials, file =>
        [
            $"--defaults-file={file}", // must come first
            $"--database={dbName}",
            "--binary-mode", "--batch", "--default-character-set=utf8mb4", "--max-allowed-packet=1G",
            $"--connect-timeout={Math.Max(1, (int)Math.Ceiling(Server.ConnectTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture)}",
        ], null, secret, input, output: null, ct);
    }

    /// <summary>The <c>[client]</c> section both tools read: the user and password (the admin's, or the tenant's for an
    /// import), and where the server is (a <see cref="EngineServerOptions.Host"/> starting with '/' is a Unix socket, as
    /// for the adapter).</summary>
    private string OptionFile(string user, string? password)
    {
        var s = new StringBuilder("[client]\n");
        s.Append("user=").Append(DumpTool.OptionValue(user)).Append('\n');
        s.Append("password=").Append(DumpTool.OptionValue(password ?? "")).Append('\n');
        if (Server.Host.StartsWith('/'))
            s.Append("protocol=socket\nsocket=").Append(DumpTool.OptionValue(Server.Host)).Append('\n');
        else
        {
            s.Append("protocol=tcp\nhost=").Append(DumpTool.OptionValue(Server.Host)).Append('\n')
             .Append("port=").Append(Server.Port.ToString(CultureInfo.InvariantCulture)).Append('\n');
            if (Server.EffectiveRequireTls) s.Append("ssl\n"); // tenant users must (REQUIRE SSL); the admin may as well
        }
        return s.ToString();
    }
}
