using HepDb.Engines.MariaDb;
using HepDb.Engines.Postgres;
using HepDb.Hosting;
using HepDb.Hosting.LocalEngines;
using Microsoft.Extensions.Options;

namespace HepDb.Engines;

/// <summary>Availability of an engine on this deployment.</summary>
public enum EngineAvailability
{
    /// <summary>Users may create databases on it.</summary>
    Enabled,
    /// <summary>Turned off by configuration (<c>Engines:X:Enabled=false</c>).</summary>
    Disabled,
    /// <summary>Enabled but no server exists for it (MongoDB without a mongod binary or a configured server).</summary>
    NotAvailable,
}

/// <summary>The configured engine servers, one adapter each.</summary>
public sealed class EngineRegistry : IAsyncDisposable
{
    private readonly Dictionary<EngineKind, IEngineAdapter> _adapters = [];
    private readonly Dictionary<EngineKind, EngineAvailability> _availability = [];

    public EngineRegistry(IOptions<EnginesOptions> options, IEnumerable<IEngineAdapterFactory> factories)
    {
        var o = options.Value;
        var byKind = factories.ToDictionary(f => f.Kind);
        foreach (var (kind, server) in new[] { (EngineKind.MariaDb, o.MariaDb), (EngineKind.Postgres, o.Postgres), (EngineKind.Mongo, o.Mongo) })
        {
            // MariaDB and PostgreSQL always have a server (local or configured); Enabled only governs new databases,
            // existing ones keep working. MongoDB has a server only when enabled and either configured or runnable here.
            var hasServer = kind != EngineKind.Mongo || (server.Enabled && (!server.Local || LocalEngineServers.FindMongod() is not null));
            if (hasServer && byKind.TryGetValue(kind, out var factory)) _adapters[kind] = factory.Create(server);
            _availability[kind] = !_adapters.ContainsKey(kind) ? (server.Enabled ? EngineAvailability.NotAvailable : EngineAvailability.Disabled)
                : kind == EngineKind.MariaDb || server.Enabled ? EngineAvailability.Enabled : EngineAvailability.Disabled;
        }
    }

    private volatile HashSet<EngineKind> _switchedOff = [];

    /// <summary>Availability for new databases: configuration first, then an operator's runtime switch
    /// (see <see cref="EngineSwitch"/>). MariaDB cannot be switched off.</summary>
    public EngineAvailability Availability(EngineKind kind) =>
        _availability[kind] == EngineAvailability.Enabled && _switchedOff.Contains(kind)
            ? EngineAvailability.Disabled
            : _availability[kind];

    public bool IsEnabled(EngineKind kind) => Availability(kind) == EngineAvailability.Enabled;

    /// <summary>Whether configuration allows new databases on the engine (what an operator's switch can turn off).</summary>
    public bool ConfiguredEnabled(EngineKind kind) => _availability[kind] == EngineAvailability.Enabled;

    public bool IsSwitchedOff(EngineKind kind) => _switchedOff.Contains(kind);

    // The one guard that keeps MariaDB on: the switched-off set never holds it.
    internal void SetSwitchedOff(IEnumerable<EngineKind> kinds) => _switchedOff = kinds.Where(k => k != EngineKind.MariaDb).ToHashSet();

    /// <summary>Every engine that has a server, enabled for new databases or not (existing databases still need it).</summary>
    public IEnumerable<IEngineAdapter> Configured => _adapters.Values;

    /// <summary>The engine's adapter, or null when it has no server.</summary>
    public IEngineAdapter? Find(EngineKind kind) => _adapters.GetValueOrDefault(kind);

    public IEngineAdapter Get(EngineKind kind) =>
        _adapters.TryGetValue(kind, out var a) ? a : throw new EngineUnavailableException(kind, "no server is configured for this engine");

    public async ValueTask DisposeAsync()
    {
        foreach (var a in _adapters.Values)
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
