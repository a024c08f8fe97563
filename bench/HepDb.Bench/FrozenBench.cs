using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using HepDb.Accounts;
using HepDb.Hosting;

namespace HepDb.Bench;

/// <summary>
/// A frozen MariaDB (issue 11): HepDb on a real loopback port with its SQLite metadata store, a private MariaDB frozen
/// with SIGSTOP, then N tenants creating a database at once while a monitor polls <c>/healthz</c>. Prints how long the
/// creates took against the configured connect timeout, and <c>/healthz</c> latency during the storm against the same
/// monitor before the freeze (the baseline, measured in the same run).
/// </summary>
internal sealed class FrozenBench(string root, EngineServerOptions mariaDb, BenchSettings settings)
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    public async Task<int> RunAsync(CancellationToken ct)
    {
        var (app, baseUrl) = await BenchHost.StartHepDbAsync(Path.Combine(root, "hepdb"), mariaDb,
            [new("Engines:MariaDb:ConnectTimeout", ConnectTimeout.ToString())], ct);
        await using var _ = app;
        var pid = int.Parse(File.ReadAllText(Path.Combine(root, "engines", "mariadb", "run", "mysqld.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            var tenants = new List<HttpClient>();
            for (var i = 0; i < settings.Count; i++) tenants.Add(await TenantAsync(app.Services, baseUrl, i, ct));
            // Warm the pools and compiled queries as a running server has them; one database leaves a pooled engine connection.
            await Task.WhenAll(tenants.Select(t => t.GetAsync("/api/v1/db/databases", ct)));
            using (var first = await tenants[0].PostAsJsonAsync("/api/v1/db/databases", new { name = "before", engine = "mariadb" }, ct))
                if (first.StatusCode != HttpStatusCode.Created) throw new InvalidOperationException($"the warm-up create answered {(int)first.StatusCode}");

            using var monitor = new HttpClient { BaseAddress = baseUrl };
            var idle = await PollAsync(monitor, TimeSpan.FromSeconds(3), ct);

            Signal("STOP", pid);
            using var stormOver = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var during = PollUntilAsync(monitor, stormOver.Token);
            var creates = await Task.WhenAll(tenants.Skip(1).Select(async t =>
            {
                var sw = Stopwatch.StartNew();
                using var response = await t.PostAsJsonAsync("/api/v1/db/databases", new { name = "frozen", engine = "mariadb" }, ct);
                return (Status: (int)response.StatusCode, Ms: sw.Elapsed.TotalMilliseconds);
            }));
            await stormOver.CancelAsync();
            var storm = await during;
            Signal("CONT", pid);

            Console.WriteLine();
            Console.WriteLine($"Frozen MariaDB (SIGSTOP), {creates.Length} tenants creating at once, ConnectTimeout {ConnectTimeout.TotalSeconds:0} s, {Environment.ProcessorCount} cores:");
            var statuses = string.Join(", ", creates.GroupBy(c => c.Status).OrderBy(g => g.Key).Select(g => $"{g.Count()} x {g.Key}"));
            var ms = creates.Select(c => c.Ms).ToList();
            Console.WriteLine($"  answers: {statuses}");
            Console.WriteLine($"  create answered after   p50 {Stats.Percentile(ms, 50),7:0} ms   max {ms.Max(),7:0} ms   (ConnectTimeout + 1 s = {(ConnectTimeout + TimeSpan.FromSeconds(1)).TotalMilliseconds:0} ms)");
            Console.WriteLine($"  /healthz idle (baseline) p50 {Stats.Percentile(idle, 50),7:0.0} ms   p99 {Stats.Percentile(idle, 99),7:0.0} ms   max {idle.Max(),7:0.0} ms   ({idle.Count} polls)");
            Console.WriteLine($"  /healthz during storm    p50 {Stats.Percentile(storm, 50),7:0.0} ms   p99 {Stats.Percentile(storm, 99),7:0.0} ms   max {storm.Max(),7:0.0} ms   ({storm.Count} polls)");
            Console.WriteLine($"  /healthz polls over 100 ms during the storm: {storm.Count(x => x > 100)} of {storm.Count}");
            Console.WriteLine($"  ratio (storm p99 / idle p99): {Stats.Percentile(storm, 99) / Stats.Percentile(idle, 99):0.0}x");
            var ok = creates.All(c => c.Status == 503) && ms.Max() < (ConnectTimeout + TimeSpan.FromSeconds(1)).TotalMilliseconds;
            Console.WriteLine(ok ? "  every create answered 503 within ConnectTimeout + 1 s" : "  CHECK FAILED: not every create answered 503 within ConnectTimeout + 1 s");
            return ok ? 0 : 1;
        }
        finally
        {
            Signal("CONT", pid);
            await app.StopAsync(CancellationToken.None);
        }
    }

    private static async Task<HttpClient> TenantAsync(IServiceProvider services, Uri baseUrl, int i, CancellationToken ct)
    {
        var (_, key) = await BenchHost.TenantAsync(services, $"frozen-{i}@bench.invalid", Tier.Free, ct);
        var client = new HttpClient { BaseAddress = baseUrl };
        client.DefaultRequestHeaders.Authorization = new("Bearer", key);
        return client;
    }

    private static async Task<List<double>> PollAsync(HttpClient monitor, TimeSpan duration, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(duration);
        return await PollUntilAsync(monitor, cts.Token);
    }

    /// <summary>One <c>/healthz</c> every 20 ms until <paramref name="until"/>; each must answer 200.</summary>
    private static async Task<List<double>> PollUntilAsync(HttpClient monitor, CancellationToken until)
    {
        var ms = new List<double>();
        while (!until.IsCancellationRequested)
        {
            var sw = Stopwatch.StartNew();
            using var response = await monitor.GetAsync("/healthz", CancellationToken.None);
            if (response.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"/healthz answered {(int)response.StatusCode}");
            ms.Add(sw.Elapsed.TotalMilliseconds);
            try { await Task.Delay(20, until); } catch (OperationCanceledException) { }
        }
        return ms;
    }

    private static void Signal(string signal, int pid) => Process.Start("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
}
