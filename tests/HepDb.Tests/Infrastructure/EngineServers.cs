using System.Net;
using System.Net.Sockets;
using HepDb.Hosting;
using HepDb.Hosting.LocalEngines;
using HepDb.Engines;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

[assembly: AssemblyFixture(typeof(HepDb.Tests.Infrastructure.EngineServers))]

namespace HepDb.Tests.Infrastructure;

/// <summary>The metadata store a <see cref="HepDbApp"/> uses unless its settings name one: its own SQLite file, or its own
/// database on the shared PostgreSQL server. The API contract tests run on each.</summary>
public enum Metadata { Sqlite, Postgres }

/// <summary>
/// One set of real MariaDB and PostgreSQL servers for the whole test run, started by the same component HepDb's run
/// command uses, in a temporary folder on free ports. Tests create uniquely named accounts, so they share the servers
/// without seeing each other's data.
/// </summary>
public sealed class EngineServers : IAsyncLifetime
{
    private LocalEngineServers? _servers;
    private readonly Shared _shared;

    public EngineServers() => _shared = new Shared();

    /// <summary>A view of <paramref name="shared"/> whose apps use <paramref name="metadata"/>; see <see cref="On"/>.</summary>
    private EngineServers(EngineServers shared, Metadata metadata)
    {
        Root = shared.Root;
        Engines = shared.Engines;
        Metadata = metadata;
        _shared = shared._shared;
    }

    /// <summary>What the fixture and its views share: admin adapters (one connection pool per server for the whole run) and
    /// the migrated template of the PostgreSQL metadata stores.</summary>
    private sealed class Shared
    {
        public readonly Dictionary<EngineKind, IEngineAdapter> Admins = [];
        public readonly SemaphoreSlim TemplateGate = new(1, 1);
        public bool TemplateReady;
    }

    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"hepdb-tests-{Guid.NewGuid():N}");
    public EnginesOptions Engines { get; } = new() { LocalDurable = false };

    /// <summary>The metadata store of the <see cref="HepDbApp"/>s made with these servers (SQLite unless a view says otherwise).</summary>
    public Metadata Metadata { get; } = Metadata.Sqlite;

    /// <summary>The same servers, with every <see cref="HepDbApp"/> made from them on <paramref name="metadata"/>: a test class
    /// written once runs on each provider by being given each view (see the API contract tests).</summary>
    public EngineServers On(Metadata metadata) => new(this, metadata);

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Root);
        Engines.MariaDb.Port = FreePort();
        Engines.Postgres.Port = FreePort();
        Engines.Mongo.Port = FreePort();
        _servers = new LocalEngineServers(Root, Engines, NullLogger.Instance);
        await _servers.StartAsync(CancellationToken.None);
    }

    /// <summary>Configuration for a HepDb instance that uses these servers as external engine servers.</summary>
    public Dictionary<string, string?> Settings() => new()
    {
        ["Engines:MariaDb:Local"] = "false",
        ["Engines:MariaDb:Port"] = Engines.MariaDb.Port.ToString(),
        ["Engines:MariaDb:AdminPassword"] = Engines.MariaDb.AdminPassword,
        // TLS as on a local server: required of tenants, with the test servers' private CA.
        ["Engines:MariaDb:RequireTls"] = "true",
        ["Engines:MariaDb:CaCertificateFile"] = Engines.MariaDb.CaCertificateFile,
        ["Engines:Postgres:RequireTls"] = "true",
        ["Engines:Postgres:CaCertificateFile"] = Engines.Postgres.CaCertificateFile,
        ["Engines:Postgres:HbaFile"] = Engines.Postgres.HbaFile,
        ["Engines:Postgres:Local"] = "false",
        ["Engines:Postgres:Port"] = Engines.Postgres.Port.ToString(),
        ["Engines:Postgres:AdminPassword"] = Engines.Postgres.AdminPassword,
        ["Engines:Mongo:Local"] = "false",
        ["Engines:Mongo:Enabled"] = "false",
    };

    /// <summary>A new, empty database on the shared PostgreSQL server for a HepDb metadata store; returns its connection
    /// string (pooled, as HepDb uses it).</summary>
    /// <summary>Settings for HepDb replicas that share one new PostgreSQL metadata store: give each replica the same.</summary>
    public async Task<Dictionary<string, string?>> ReplicaSettingsAsync() =>
        new() { ["Metadata:Provider"] = "postgres", ["Metadata:ConnectionString"] = await CreateMetadataDatabaseAsync() };

    public async Task<string> CreateMetadataDatabaseAsync()
    {
        var name = $"hepdb_meta_{Guid.NewGuid():N}"[..30];
        await using (var conn = new NpgsqlConnection(MetadataConnectionString("postgres", pooling: false)))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        return MetadataConnectionString(name, pooling: true);
    }

    /// <summary>The metadata database of the HepDb instance with data folder <paramref name="dataDir"/> on the shared
    /// PostgreSQL server, created on first use: a second instance on the same folder (a restart) finds the same store.
    /// It is a copy of a template the migrations already ran on, so an instance starts as fast as on SQLite; it still
    /// runs its own migration step at start (which finds nothing pending). The migrations themselves run from scratch on
    /// PostgreSQL in <c>MetadataStoreTests</c> and <c>ReplicaTests</c>.</summary>
    public string MetadataDatabaseFor(string dataDir)
    {
        const string template = "hepdb_meta_template";
        EnsureMigratedTemplate(template);
        var name = "hepdb_meta_" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(dataDir)))[..16];
        try { AdminSql($"CREATE DATABASE {name} TEMPLATE {template}"); }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase) { }
        return MetadataConnectionString(name, pooling: true);
    }

    /// <summary>Drops a store made by <see cref="MetadataDatabaseFor"/> once its instance is gone, with the pooled
    /// connections the test process still holds to it, so a long run does not use up the server's connections.</summary>
    public void DropMetadataDatabase(string connectionString)
    {
        using (var conn = new NpgsqlConnection(connectionString)) NpgsqlConnection.ClearPool(conn);
        AdminSql($"DROP DATABASE IF EXISTS {new NpgsqlConnectionStringBuilder(connectionString).Database} WITH (FORCE)");
    }

    private void EnsureMigratedTemplate(string template)
    {
        _shared.TemplateGate.Wait();
        try
        {
            if (_shared.TemplateReady) return;
            AdminSql($"DROP DATABASE IF EXISTS {template} WITH (FORCE)");
            AdminSql($"CREATE DATABASE {template}");
            var options = new DbContextOptionsBuilder<HepDb.Data.HepDbContext>();
            var cs = MetadataConnectionString(template, pooling: false);
            HepDb.Data.MetadataStore.Configure(options, new MetadataOptions { Provider = "postgres", ConnectionString = cs }, new HepDbOptions());
            using (var db = new HepDb.Data.HepDbContext(options.Options)) db.Database.Migrate();
            _shared.TemplateReady = true;
        }
        finally
        {
            _shared.TemplateGate.Release();
        }
    }

    private void AdminSql(string sql)
    {
        using var conn = new NpgsqlConnection(MetadataConnectionString("postgres", pooling: false));
        conn.Open();
        using var cmd = new NpgsqlCommand(sql, conn);
        cmd.ExecuteNonQuery();
    }

    /// <summary>An adapter on the shared server with its admin credentials, for tests that look at the engine beside
    /// HepDb; one per server for the whole run.</summary>
    public IEngineAdapter Admin(EngineKind kind)
    {
        lock (_shared.Admins)
        {
            if (!_shared.Admins.TryGetValue(kind, out var adapter))
                _shared.Admins[kind] = adapter = kind == EngineKind.MariaDb
                    ? new HepDb.Engines.MariaDb.MariaDbAdapter(Engines.MariaDb)
                    : new HepDb.Engines.Postgres.PostgresAdapter(Engines.Postgres);
            return adapter;
        }
    }

    private string MetadataConnectionString(string database, bool pooling) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1", Port = Engines.Postgres.Port, Username = "postgres",
        Password = Engines.Postgres.AdminPassword, Database = database, Pooling = pooling,
    }.ConnectionString;

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var adapter in _shared.Admins.Values) if (adapter is IAsyncDisposable d) await d.DisposeAsync();
        if (_servers is not null) await _servers.StopAsync();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
