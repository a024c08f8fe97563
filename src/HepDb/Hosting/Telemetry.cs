using System.ComponentModel.DataAnnotations;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using HepDb.Api;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace HepDb.Hosting;

public sealed class MetricsOptions
{
    public const string Section = "Metrics";

    /// <summary>Serve Prometheus metrics on their own listener. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The metrics listener's address: loopback by default, never the public port.</summary>
    [Required] public string Host { get; set; } = "127.0.0.1";

    /// <summary>The metrics listener's port (the scrape path is <c>/metrics</c>). Default 9464.</summary>
    [Range(1, 65535)] public int Port { get; set; } = 9464;

    /// <summary>How often the gauges that need a query (engine servers, accounts by state) are refreshed. Default 15 s.</summary>
    public TimeSpan SampleInterval { get; set; } = TimeSpan.FromSeconds(15);
}

/// <summary>
/// HepDb's own instruments, on the meter <c>HepDb</c> (OpenTelemetry names; Prometheus shows <c>hepdb.database.operations</c>
/// as <c>hepdb_database_operations_total</c>, a unit <c>s</c> as a <c>_seconds</c> suffix). Every metric is listed in
/// docs/operations.md. Recording is always on and costs a few atomic adds; only <see cref="MetricsOptions.Enabled"/>
/// decides whether anything is exported.
/// </summary>
public static class Telemetry
{
    public const string MeterName = "HepDb";
    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> DatabaseOperations = Meter.CreateCounter<long>("hepdb.database.operations",
        description: "Database operations (create, reveal, rotate, delete) by engine and outcome: ok, refused (the caller's error), unavailable (engine down), failed.");
    private static readonly Counter<long> Backups = Meter.CreateCounter<long>("hepdb.backups",
        description: "Backups taken, by engine, kind (scheduled, manual, final, safety) and outcome (complete, failed).");
    private static readonly Counter<long> AuthenticationFailures = Meter.CreateCounter<long>("hepdb.authentication.failures",
        description: "Failed authentications: unknown, disabled or malformed API keys and failed dashboard sign-ins.");
    private static readonly Counter<long> RateLimited = Meter.CreateCounter<long>("hepdb.rate_limited",
        description: "Requests refused with 429, by limit: requests (per key or per IP) or failed_auth (too many failures from the address).");
    private static readonly Histogram<double> JobPassDuration = Meter.CreateHistogram("hepdb.job.pass.duration", "s",
        "How long one pass of a background job took (quota watcher, reconciler, backup scheduler, …), failed passes included.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900] });

    private static readonly Dictionary<string, long> LastSuccess = [];
    private static volatile Sample? _sample;

    static Telemetry()
    {
        Meter.CreateObservableGauge("hepdb.job.last_success_timestamp", () =>
        {
            lock (LastSuccess) return LastSuccess.Select(j => new Measurement<long>(j.Value, new KeyValuePair<string, object?>("job", j.Key))).ToList();
        }, "s", "When a background job's last successful pass ended (Unix time).");
        Meter.CreateObservableGauge("hepdb.engine.up", () => Engines(e => e.Up ? 1 : 0), description: "1 when the engine server answered the last probe.");
        Meter.CreateObservableGauge("hepdb.engine.latency", () => Engines(e => e.LatencySeconds), "s", "How long the last probe of the engine server took.");
        Meter.CreateObservableGauge("hepdb.engine.databases", () => Engines(e => (double)e.Databases), description: "Tenant databases on the engine server.");
        Meter.CreateObservableGauge("hepdb.engine.size", () => Engines(e => (double)e.Bytes), "By", "Bytes of tenant data on the engine server, as last measured.");
        Meter.CreateObservableGauge("hepdb.engine.capacity.databases", () => Engines(e => e.MaxDatabases), description: "How many databases the engine server may hold (its capacity; absent without a limit).");
        Meter.CreateObservableGauge("hepdb.engine.capacity.size", () => Engines(e => e.MaxBytes), "By", "How many bytes of databases the engine server may hold (absent without a limit).");
        Meter.CreateObservableGauge("hepdb.accounts", () => _sample is { } s
            ? [Account("active", s.Active), Account("over_quota", s.OverQuota), Account("suspended", s.Suspended)]
            : Array.Empty<Measurement<long>>(), description: "Accounts by state: active, over_quota, suspended.");
    }

    public static void DatabaseOperation(string engine, string operation, Problem? problem) =>
        DatabaseOperations.Add(1, new("engine", engine), new("operation", operation), new("outcome", Outcome(problem)));

    public static void Backup(EngineKind engine, string kind, bool complete) =>
        Backups.Add(1, new("engine", engine.WireName()), new("kind", kind), new("outcome", complete ? "complete" : "failed"));

    public static void AuthenticationFailed() => AuthenticationFailures.Add(1);

    public static void RateLimitHit(string limit) => RateLimited.Add(1, new KeyValuePair<string, object?>("limit", limit));

    public static void JobPass(string job, TimeSpan duration, bool succeeded, DateTimeOffset now)
    {
        JobPassDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("job", job));
        if (succeeded) lock (LastSuccess) LastSuccess[job] = now.ToUnixTimeSeconds();
    }

    /// <summary>ok, refused (4xx: the caller's error or a limit), unavailable (503) or failed (500).</summary>
    public static string Outcome(Problem? problem) => problem is null ? "ok" : problem.Status switch
    {
        503 => "unavailable",
        >= 500 => "failed",
        _ => "refused",
    };

    /// <summary>The gauges' latest sample (see <see cref="MetricsSampler"/>).</summary>
    internal static void Publish(Sample sample) => _sample = sample;

    internal sealed record EngineSample(EngineKind Engine, string Server, bool Up, double LatencySeconds, int Databases, long Bytes, int? MaxDatabases, long? MaxBytes);
    internal sealed record Sample(IReadOnlyList<EngineSample> Engines, int Active, int OverQuota, int Suspended);

    /// <summary>One measurement per engine server, labelled with its engine and name; a server without the value (no
    /// capacity limit) has none.</summary>
    private static IEnumerable<Measurement<double>> Engines(Func<EngineSample, double?> value) =>
        _sample?.Engines.Where(e => value(e) is not null).Select(e => new Measurement<double>(value(e)!.Value,
            new KeyValuePair<string, object?>("engine", e.Engine.WireName()), new KeyValuePair<string, object?>("server", e.Server))) ?? [];

    /// <summary>Why the metrics listener's address cannot be bound now, or null when it can.</summary>
    private static string? PortTaken(MetricsOptions options)
    {
        try
        {
            var address = IPAddress.TryParse(options.Host, out var ip) ? ip : IPAddress.Loopback;
            using var probe = new TcpListener(address, options.Port);
            probe.Start();
            probe.Stop();
            return null;
        }
        catch (SocketException e)
        {
            return e.Message;
        }
    }

    private static Measurement<long> Account(string state, int count) => new(count, new KeyValuePair<string, object?>("state", state));

    /// <summary>OpenTelemetry with the ASP.NET Core and runtime instrumentations and HepDb's meter, exported for Prometheus
    /// on its own HTTP listener (<see cref="MetricsOptions"/>), when enabled.</summary>
    public static WebApplicationBuilder AddHepDbMetrics(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MetricsOptions>().BindConfiguration(MetricsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var options = builder.Configuration.GetSection(MetricsOptions.Section).Get<MetricsOptions>() ?? new MetricsOptions();
        if (!options.Enabled) return builder;
        // A port someone else holds (another HepDb on this machine, say) costs the metrics, never the service itself.
        if (PortTaken(options) is { } why)
        {
            builder.Services.AddHostedService(sp => new MetricsUnavailableNotice(sp.GetRequiredService<ILogger<MetricsSampler>>(), options, why));
            return builder;
        }
        builder.Services.AddSingleton<MetricsSampler>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MetricsSampler>());
        builder.Services.AddOpenTelemetry().WithMetrics(m => m
            .AddAspNetCoreInstrumentation()
            .AddRuntimeInstrumentation()
            .AddMeter(MeterName)
            .AddPrometheusHttpListener(o =>
            {
                o.Host = options.Host;
                o.Port = options.Port;
            }));
        return builder;
    }
}

/// <summary>Says once, at start, that metrics are off because their port could not be had.</summary>
internal sealed class MetricsUnavailableNotice(ILogger logger, MetricsOptions options, string why) : IHostedService
{
    public Task StartAsync(CancellationToken ct)
    {
        logger.MetricsUnavailable(options.Host, options.Port, why);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}

/// <summary>Refreshes the gauges that need a query, every <see cref="MetricsOptions.SampleInterval"/>: a probe of each
/// engine server, databases and bytes per engine from the metadata store, accounts by state. Runs only when metrics are
/// served, and a scrape never waits for a query.</summary>
public sealed class MetricsSampler(IServiceScopeFactory scopes, EngineRegistry engines, IOptions<MetricsOptions> options, TimeProvider time, ILogger<MetricsSampler> logger)
    : PeriodicJob(time, logger)
{
    protected override TimeSpan Interval => options.Value.SampleInterval;

    protected override async Task RunPassAsync(bool atStart, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
        var loads = await Fleet.Placement.LoadsAsync(db, kind: null, ct); // as placement and `server list` count them
        var probes = await Task.WhenAll(engines.Servers.Select(async s => (Server: s, Probe: await s.Adapter.ProbeAsync(ct))));
        foreach (var (server, probe) in probes) engines.ReportProbe(server.Id, probe.Up, Time.GetUtcNow().UtcDateTime);
        var suspended = await db.Accounts.CountAsync(a => a.SuspendedAt != null, ct);
        var overQuota = await db.Databases.Where(d => d.Status == DatabaseStatus.OverQuota).Select(d => d.AccountId).Distinct()
            .CountAsync(id => db.Accounts.Any(a => a.Id == id && a.SuspendedAt == null), ct);
        var all = await db.Accounts.CountAsync(ct);
        Telemetry.Publish(new Telemetry.Sample(
            probes.Select(p => new Telemetry.EngineSample(p.Server.Kind, p.Server.Name, p.Probe.Up, p.Probe.Latency.TotalSeconds,
                loads.GetValueOrDefault(p.Server.Id).Databases, loads.GetValueOrDefault(p.Server.Id).Bytes,
                p.Server.Row.MaxDatabases, p.Server.Row.MaxBytes)).ToList(),
            all - suspended - overQuota, overQuota, suspended));
    }
}
