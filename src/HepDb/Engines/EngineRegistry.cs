using System.Collections.Concurrent;
using System.Linq.Expressions;
using HepDb.Databases;
using HepDb.Engines.MariaDb;
using HepDb.Engines.Postgres;
using HepDb.Fleet;
using HepDb.Hosting;
using HepDb.Hosting.LocalEngines;
using HepDb.Security;
using Microsoft.Extensions.Options;

namespace HepDb.Engines;

/// <summary>Availability of an engine on this deployment.</summary>
public enum EngineAvailability
{
    /// <summary>Users may create databases on it.</summary>
    Enabled,
    /// <summary>Turned off by configuration (<c>Engines:X:Enabled=false</c>) or by an operator's switch.</summary>
    Disabled,
    /// <summary>Enabled but no server exists for it (MongoDB without a mongod binary or a configured server).</summary>
    NotAvailable,
}

/// <summary>One engine server of the fleet and the adapter that talks to it. <see cref="Row"/> is its record in the
/// metadata store (state, capacity), as last read.</summary>
public sealed record FleetServer(EngineServer Row, IEngineAdapter Adapter)
{
    public string Id => Row.Id;
    public EngineKind Kind => Row.Engine;
    public string Name => Row.Name;

    /// <summary>The records this server holds, as a query: those naming it and, for the configured server, those
    /// stored without a server (by a replica older than the fleet; start-up gives them one), the rule
    /// <see cref="EngineRegistry.ServerIdOf(TenantDatabase)"/> routes by.</summary>
    public Expression<Func<TenantDatabase, bool>> Holds()
    {
        var (id, kind, configured) = (Id, Kind, Row.Configured);
        return d => d.ServerId == id || (configured && d.ServerId == "" && d.Engine == kind);
    }
}

/// <summary>
/// The fleet: every engine server, one adapter (one connection pool) each. The configured servers (<c>Engines:X</c>,
/// named <c>default</c>) exist from construction; the others come from the metadata store through
/// <see cref="FleetSync"/>, which also brings every server's state and capacity, so a change made on one replica or
/// with the operator tool reaches the others within seconds.
/// </summary>
public sealed class EngineRegistry : IAsyncDisposable
{
    private readonly Dictionary<EngineKind, IEngineAdapterFactory> _factories;
    private readonly Dictionary<EngineKind, bool> _configEnabled = [];
    private readonly Dictionary<string, FleetServer> _configured = [];
    private readonly Dictionary<EngineKind, TimeSpan> _connectTimeouts = [];
    private readonly SecretBox _box;
    private readonly List<IEngineAdapter> _retired = [];
    private readonly Lock _applying = new();
    private volatile IReadOnlyDictionary<string, FleetServer> _servers;
    private readonly ConcurrentDictionary<string, (bool Up, DateTime At)> _health = [];

    public EngineRegistry(IOptions<EnginesOptions> options, IEnumerable<IEngineAdapterFactory> factories, SecretBox box)
    {
        var o = options.Value;
        _box = box;
        _factories = factories.ToDictionary(f => f.Kind);
        foreach (var (kind, server) in new[] { (EngineKind.MariaDb, o.MariaDb), (EngineKind.Postgres, o.Postgres), (EngineKind.Mongo, o.Mongo) })
        {
            _configEnabled[kind] = kind == EngineKind.MariaDb || server.Enabled;
            _connectTimeouts[kind] = server.ConnectTimeout;
            // MariaDB and PostgreSQL always have a server (local or configured); Enabled only governs new databases,
            // existing ones keep working. MongoDB has a server only when enabled and either configured or runnable here.
            var hasServer = kind != EngineKind.Mongo || (server.Enabled && (!server.Local || LocalEngineServers.FindMongod() is not null));
            if (!hasServer || !_factories.TryGetValue(kind, out var factory)) continue;
            var row = ConfiguredRow(kind, server, DateTime.UtcNow);
            _configured[row.Id] = new FleetServer(row, factory.Create(server));
        }
        _servers = new Dictionary<string, FleetServer>(_configured);
    }

    /// <summary>The row of the server configuration describes, as it would be stored.</summary>
    public static EngineServer ConfiguredRow(EngineKind kind, EngineServerOptions server, DateTime now) => new()
    {
        Id = EngineServer.IdOf(kind, EngineServer.DefaultName), Engine = kind, Name = EngineServer.DefaultName,
        Host = server.Host, Port = server.Port, PublicHost = server.PublicHost, PublicPort = server.PublicPort,
        AdminUser = server.AdminUser ?? "", RequireTls = server.EffectiveRequireTls, CaCertificateFile = server.CaCertificateFile,
        HbaFile = server.HbaFile, MaxDatabases = server.MaxDatabases, MaxBytes = server.MaxBytes, Configured = true,
        CreatedAt = now, ChangedAt = now,
    };

    /// <summary>The adapter settings of a server added by an operator: its row, with the connect timeout configured for
    /// its engine (<c>Engines:X:ConnectTimeout</c>), which every server of the engine shares.</summary>
    public EngineServerOptions AdapterOptions(EngineServer row)
    {
        var options = row.ToOptions(_box);
        options.ConnectTimeout = _connectTimeouts[row.Engine];
        return options;
    }

    /// <summary>The configured servers, as this process's configuration describes them.</summary>
    public IEnumerable<FleetServer> ConfiguredServers => _configured.Values;

    /// <summary>Takes the fleet as stored: servers added elsewhere get an adapter, removed ones lose theirs, changed
    /// connection settings get a new one; states and capacities are taken as they are. A configured server keeps its
    /// settings from this process's configuration.</summary>
    public void Apply(IReadOnlyCollection<EngineServer> rows)
    {
        lock (_applying)
        {
            var current = _servers;
            var next = new Dictionary<string, FleetServer>();
            foreach (var (id, configured) in _configured)
                next[id] = rows.FirstOrDefault(r => r.Id == id) is { } stored ? configured with { Row = stored } : configured;
            foreach (var row in rows.Where(r => !r.Configured && !_configured.ContainsKey(r.Id)))
            {
                if (current.TryGetValue(row.Id, out var known) && known.Row.ConnectionFingerprint() == row.ConnectionFingerprint())
                    next[row.Id] = known with { Row = row };
                else if (_factories.TryGetValue(row.Engine, out var factory))
                    next[row.Id] = new FleetServer(row, factory.Create(AdapterOptions(row)));
            }
            // An adapter no longer in use may still serve an operation in flight: it is disposed with the registry.
            _retired.AddRange(current.Values.Where(s => !next.TryGetValue(s.Id, out var kept) || !ReferenceEquals(kept.Adapter, s.Adapter)).Select(s => s.Adapter));
            _servers = next;
        }
    }

    /// <summary>Every server, ordered by engine and name.</summary>
    public IReadOnlyList<FleetServer> Servers => _servers.Values.OrderBy(s => s.Kind).ThenBy(s => s.Name, StringComparer.Ordinal).ToList();

    public IEnumerable<FleetServer> ServersOf(EngineKind kind) => Servers.Where(s => s.Kind == kind);

    /// <summary>The server that stands for its engine where one is shown (the admin area's Engines page, a CA download
    /// that names no server): the configured one, else the first by name; null when the engine has none.</summary>
    public FleetServer? Primary(EngineKind kind) => ServersOf(kind).OrderByDescending(s => s.Row.Configured).FirstOrDefault();

    /// <summary>Every server's adapter, enabled for new databases or not (existing databases still need it).</summary>
    public IEnumerable<IEngineAdapter> Configured => Servers.Select(s => s.Adapter);

    public FleetServer? Server(string serverId) => _servers.GetValueOrDefault(serverId);

    /// <summary>The adapter of the server that holds <paramref name="record"/>, or null when that server is unknown here.</summary>
    public IEngineAdapter? For(TenantDatabase record) => Server(ServerIdOf(record))?.Adapter;

    /// <summary>The server a record is on: the one it names, or, for a record stored without one (by a replica older
    /// than the fleet), its engine's configured server.</summary>
    public static string ServerIdOf(TenantDatabase record) => ServerIdOf(record.Engine, record.ServerId);

    /// <summary><see cref="ServerIdOf(TenantDatabase)"/> from a record's engine and stored server id.</summary>
    public static string ServerIdOf(EngineKind kind, string storedServerId) =>
        storedServerId is "" ? EngineServer.IdOf(kind, EngineServer.DefaultName) : storedServerId;

    /// <summary>Like <see cref="For"/>, but throws <see cref="EngineUnavailableException"/> for an unknown server.</summary>
    public IEngineAdapter Get(TenantDatabase record) =>
        For(record) ?? throw new EngineUnavailableException(record.Engine, $"its server {record.ServerId} is not in the fleet");

    /// <summary>The adapter of the engine's configured server (named <c>default</c>), or throws
    /// <see cref="EngineUnavailableException"/> when configuration gives the engine none.</summary>
    public IEngineAdapter Default(EngineKind kind) => Get(kind, EngineServer.IdOf(kind, EngineServer.DefaultName));

    /// <summary>The adapter of a server by id, or throws <see cref="EngineUnavailableException"/>.</summary>
    public IEngineAdapter Get(EngineKind kind, string serverId) =>
        Server(serverId)?.Adapter ?? throw new EngineUnavailableException(kind, $"server {serverId} is not in the fleet");

    /// <summary>Availability for new databases: configuration first (<c>Engines:X:Enabled</c>; MariaDB always), then
    /// whether the engine has any server, then an operator's runtime switch (see <see cref="EngineSwitch"/>).</summary>
    public EngineAvailability Availability(EngineKind kind) =>
        !_configEnabled[kind] ? EngineAvailability.Disabled
        : !_servers.Values.Any(s => s.Kind == kind) ? EngineAvailability.NotAvailable
        : _switchedOff.Contains(kind) ? EngineAvailability.Disabled
        : EngineAvailability.Enabled;

    private volatile HashSet<EngineKind> _switchedOff = [];

    public bool IsEnabled(EngineKind kind) => Availability(kind) == EngineAvailability.Enabled;

    /// <summary>Whether configuration allows new databases on the engine (what an operator's switch can turn off).</summary>
    public bool ConfiguredEnabled(EngineKind kind) => _configEnabled[kind] && _servers.Values.Any(s => s.Kind == kind);

    public bool IsSwitchedOff(EngineKind kind) => _switchedOff.Contains(kind);

    // The one guard that keeps MariaDB on: the switched-off set never holds it.
    internal void SetSwitchedOff(IEnumerable<EngineKind> kinds) => _switchedOff = kinds.Where(k => k != EngineKind.MariaDb).ToHashSet();

    /// <summary>Remembers a server's last probe (readiness, metrics, a create that could not reach it), for placement:
    /// a server seen down in the last minute is passed over.</summary>
    public void ReportProbe(string serverId, bool up, DateTime at) => _health[serverId] = (up, at);

    /// <summary>Whether placement may use the server: not seen down within <paramref name="within"/> of <paramref name="now"/>.</summary>
    public bool SeemsUp(string serverId, DateTime now, TimeSpan within) =>
        !_health.TryGetValue(serverId, out var h) || h.Up || now - h.At > within;

    public async ValueTask DisposeAsync()
    {
        foreach (var a in _servers.Values.Select(s => s.Adapter).Concat(_retired).Distinct())
            if (a is IAsyncDisposable d) await d.DisposeAsync();
    }
}

/// <summary>Creates the adapter for one engine kind; registered once per engine so the registry stays closed to engine details.</summary>
public interface IEngineAdapterFactory
{
    EngineKind Kind { get; }
    IEngineAdapter Create(EngineServerOptions server);
}

public sealed class MariaDbAdapterFactory : IEngineAdapterFactory
{
    public EngineKind Kind => EngineKind.MariaDb;
    public IEngineAdapter Create(EngineServerOptions server) => new MariaDbAdapter(server);
}

public sealed class PostgresAdapterFactory : IEngineAdapterFactory
{
    public EngineKind Kind => EngineKind.Postgres;
    public IEngineAdapter Create(EngineServerOptions server) => new PostgresAdapter(server);
}
