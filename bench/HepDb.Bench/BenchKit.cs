using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HepDb.Accounts;
using HepDb.ApiKeys;
using HepDb.Audit;
using HepDb.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HepDb.Bench;

internal static class Stats
{
    /// <summary>The nearest-rank percentile.</summary>
    public static double Percentile(IEnumerable<double> values, int p)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}

internal static class Ports
{
    public static int Free()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

/// <summary>HepDb as it runs in production (<c>AddHepDb</c>/<c>MapHepDb</c>) on a free loopback port, against the
/// benchmark's own MariaDB server, with PostgreSQL and MongoDB engines off.</summary>
internal static class BenchHost
{
    public static async Task<(WebApplication App, Uri BaseUrl)> StartHepDbAsync(
        string dataDir, EngineServerOptions mariaDb, IEnumerable<KeyValuePair<string, string?>> extra, CancellationToken ct)
    {
        var port = Ports.Free();
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HepDb:DataDir"] = dataDir,
            ["Engines:MariaDb:Local"] = "false",
            ["Engines:MariaDb:Port"] = mariaDb.Port.ToString(CultureInfo.InvariantCulture),
            ["Engines:MariaDb:AdminPassword"] = mariaDb.AdminPassword,
            ["Engines:Postgres:Enabled"] = "false",
            ["Engines:Postgres:Local"] = "false",
            ["Engines:Mongo:Local"] = "false",
            ["Engines:Mongo:Enabled"] = "false",
        }.Concat(extra));
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.AddHepDb();
        var app = builder.Build();
        app.MapHepDb();
        await app.StartAsync(ct);
        return (app, new Uri($"http://127.0.0.1:{port}"));
    }

    /// <summary>A new account of <paramref name="tier"/> and one API key for it, through HepDb's own services.</summary>
    public static async Task<(string AccountId, string Key)> TenantAsync(IServiceProvider services, string email, Tier tier, CancellationToken ct)
    {
        await using var scope = services.CreateAsyncScope();
        var account = (await scope.ServiceProvider.GetRequiredService<AccountService>().CreateAsync(email, tier.WireName(), Actor.Operator, ct)).Value!;
        var key = await scope.ServiceProvider.GetRequiredService<ApiKeyService>().MintAsync(account.Id, null, Actor.Operator, ct);
        return (account.Id, key.Value!.Value);
    }
}

/// <summary>What one closed-loop load run measured: successful requests, failures, and each success's latency.</summary>
internal sealed record LoadResult(int Requests, int Failures, double Seconds, List<double> Ms)
{
    public double PerSecond => Requests / Seconds;
    public double P(int p) => Ms.Count == 0 ? double.NaN : Stats.Percentile(Ms, p);
}

internal static class Load
{
    /// <summary><paramref name="workers"/> concurrent loops, each sending its next request as soon as the last one
    /// answered, for <paramref name="duration"/>. <paramref name="request"/> gets the worker and its sequence number
    /// and says whether the answer was the expected one.</summary>
    public static async Task<LoadResult> RunAsync(int workers, TimeSpan duration, Func<int, int, CancellationToken, Task<bool>> request, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var end = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var perWorker = await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var ms = new List<double>();
            var failures = 0;
            for (var i = 0; Stopwatch.GetTimestamp() < end; i++)
            {
                var t = Stopwatch.GetTimestamp();
                var ok = await request(w, i, ct);
                if (ok) ms.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                else failures++;
            }
            return (ms, failures);
        }, ct)));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var all = perWorker.SelectMany(x => x.ms).ToList();
        return new LoadResult(all.Count, perWorker.Sum(x => x.failures), seconds, all);
    }
}
