using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Databases;
using HepDb.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace HepDb.Bench;

/// <summary>
/// API throughput (issue 12): HepDb as it runs in production on a real loopback port, once with SQLite metadata and
/// once with PostgreSQL metadata on the benchmark's private PostgreSQL server, under a closed loop of concurrent
/// clients: an authenticated list (<c>GET /api/v1/db/databases</c>) and a MariaDB create (<c>POST</c>). Each is set
/// against a bare Kestrel endpoint in the same process, on another port, answering the same bytes: the baseline.
/// </summary>
internal sealed class ApiBench(string root, EnginesOptions engines, BenchSettings settings)
{
    private const string ApiPath = "/api/v1/db/databases";
    private const int Unlimited = 1_000_000_000;
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(2);
    private static readonly string[] Providers = ["sqlite", "postgres"];

    private sealed record Row(string Provider, string Request, LoadResult HepDb, LoadResult Bare);

    private TimeSpan Timed => TimeSpan.FromSeconds(settings.Seconds);

    public async Task<int> RunAsync(CancellationToken ct)
    {
        Console.WriteLine($"{settings.Parallel} concurrent clients, {WarmUp.TotalSeconds:0} s warm-up then {settings.Seconds} s timed per line. " +
                          $"HepDb, the bare endpoint and the load generator share this machine's {Environment.ProcessorCount} cores.");
        Console.WriteLine($"Raised for the benchmark: RateLimits:PerKeyPerMinute and RateLimits:PerIpPerMinute = {Unlimited:N0} " +
                          $"(defaults 300 and 600), Tiers:Admin:Databases = {Unlimited:N0}.");
        Console.WriteLine($"Load average before: {LoadAverage()}");
        var rows = new List<Row>();
        foreach (var provider in Providers) rows.AddRange(await ProviderAsync(provider, ct));
        Print(rows);
        Console.WriteLine($"  Load average after: {LoadAverage()} (above the core count, other work shared the cores and the figures are low)");
        return rows.All(r => r.HepDb.Failures == 0 && r.Bare.Failures == 0) ? 0 : 1;
    }

    private async Task<List<Row>> ProviderAsync(string provider, CancellationToken ct)
    {
        var config = new Dictionary<string, string?>
        {
            ["Metadata:Provider"] = provider,
            ["RateLimits:PerKeyPerMinute"] = Unlimited.ToString(CultureInfo.InvariantCulture),
            ["RateLimits:PerIpPerMinute"] = Unlimited.ToString(CultureInfo.InvariantCulture),
            ["Tiers:Admin:Databases"] = Unlimited.ToString(CultureInfo.InvariantCulture),
        };
        if (provider == "postgres")
            config["Metadata:ConnectionString"] = new NpgsqlConnectionStringBuilder
            {
                Host = engines.Postgres.Host, Port = engines.Postgres.Port, Username = engines.Postgres.AdminUser ?? "postgres",
                Password = engines.Postgres.AdminPassword, Database = "hepdb_metadata",
            }.ConnectionString;
        var (app, baseUrl) = await BenchHost.StartHepDbAsync(Path.Combine(root, $"hepdb-{provider}"), engines.MariaDb, config, ct);
        await using var _ = app;
        using var hepdb = Client(baseUrl);
        var accounts = new List<string>();
        try
        {
            // The listed account holds --count databases; each create worker has an admin-tier account of its own.
            var lister = await BenchHost.TenantAsync(app.Services, $"api-list-{provider}@bench.invalid", Tier.Admin, ct);
            accounts.Add(lister.AccountId);
            for (var i = 0; i < settings.Count; i++)
                if (!await CreateAsync(hepdb, lister.Key, $"listed-{i}", ct)) throw new InvalidOperationException($"creating listed database {i} failed");
            var creators = new List<string>();
            for (var w = 0; w < settings.Parallel; w++)
            {
                var (id, key) = await BenchHost.TenantAsync(app.Services, $"api-create-{provider}-{w}@bench.invalid", Tier.Admin, ct);
                accounts.Add(id);
                creators.Add(key);
            }

            // The bare endpoint answers exactly what HepDb answered: the list of the listed account, and one real create.
            var listBytes = await AnswerAsync(hepdb, Get(lister.Key), HttpStatusCode.OK, ct);
            var createBytes = await AnswerAsync(hepdb, Post(creators[0], "sample"), HttpStatusCode.Created, ct);
            var (bareApp, bareUrl) = await StartBareAsync(listBytes, createBytes, ct);
            await using var __ = bareApp;
            using var bare = Client(bareUrl);
            var same = (await AnswerAsync(bare, Get(lister.Key), HttpStatusCode.OK, ct)).AsSpan().SequenceEqual(listBytes);
            if (!same) throw new InvalidOperationException("the bare endpoint does not answer the same bytes as HepDb");
            Console.WriteLine($"{Name(provider)} metadata: list answer {listBytes.Length:N0} bytes ({settings.Count} databases), " +
                              $"create answer {createBytes.Length:N0} bytes; the bare endpoint answers the same bytes");

            Task<bool> List(HttpClient c, string _, int w, int i, CancellationToken t) => SendAsync(c, Get(lister.Key), HttpStatusCode.OK, t);
            Task<bool> Create(HttpClient c, string phase, int w, int i, CancellationToken t) => CreateAsync(c, creators[w], $"{phase}-{w}-{i}", t);
            var listRow = new Row(provider, $"GET  list ({settings.Count} dbs)", await MeasureAsync(hepdb, List, ct), await MeasureAsync(bare, List, ct));
            var createRow = new Row(provider, "POST create mariadb", await MeasureAsync(hepdb, Create, ct), await MeasureAsync(bare, Create, ct));
            await bareApp.StopAsync(CancellationToken.None);
            return [listRow, createRow];
        }
        finally
        {
            if (!ct.IsCancellationRequested) await RemoveDatabasesAsync(app.Services, provider, accounts);
            await app.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>One untimed warm-up run, then the timed one; the phase keeps their database names apart.</summary>
    private async Task<LoadResult> MeasureAsync(HttpClient client, Func<HttpClient, string, int, int, CancellationToken, Task<bool>> request, CancellationToken ct)
    {
        await Load.RunAsync(settings.Parallel, WarmUp, (w, i, t) => request(client, "w", w, i, t), ct);
        return await Load.RunAsync(settings.Parallel, Timed, (w, i, t) => request(client, "t", w, i, t), ct);
    }

    private HttpClient Client(Uri baseUrl) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = settings.Parallel, PooledConnectionLifetime = Timeout.InfiniteTimeSpan, UseCookies = false, UseProxy = false,
    })
    { BaseAddress = baseUrl };

    private static Func<HttpRequestMessage> Get(string key) => () => Request(HttpMethod.Get, key, null);
    private static Func<HttpRequestMessage> Post(string key, string name) =>
        () => Request(HttpMethod.Post, key, $$"""{"name":"{{name}}","engine":"mariadb"}""");

    private static HttpRequestMessage Request(HttpMethod method, string key, string? json)
    {
        var request = new HttpRequestMessage(method, ApiPath);
        request.Headers.Authorization = new("Bearer", key);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        return request;
    }

    private static Task<bool> CreateAsync(HttpClient client, string key, string name, CancellationToken ct) =>
        SendAsync(client, Post(key, name), HttpStatusCode.Created, ct);

    private static async Task<bool> SendAsync(HttpClient client, Func<HttpRequestMessage> request, HttpStatusCode expected, CancellationToken ct)
    {
        try
        {
            using var message = request();
            using var response = await client.SendAsync(message, ct);
            return response.StatusCode == expected;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private static async Task<byte[]> AnswerAsync(HttpClient client, Func<HttpRequestMessage> request, HttpStatusCode expected, CancellationToken ct)
    {
        using var message = request();
        using var response = await client.SendAsync(message, ct);
        var body = await response.Content.ReadAsByteArrayAsync(ct);
        return response.StatusCode == expected ? body
            : throw new InvalidOperationException($"{message.Method} {ApiPath} answered {(int)response.StatusCode}: {Encoding.UTF8.GetString(body)}");
    }

    /// <summary>The baseline: Kestrel with routing only, answering HepDb's own bytes (the POST reads its body first).</summary>
    private static async Task<(WebApplication App, Uri BaseUrl)> StartBareAsync(byte[] list, byte[] create, CancellationToken ct)
    {
        var port = Ports.Free();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        static Task Answer(HttpContext http, int status, byte[] body)
        {
            http.Response.StatusCode = status;
            http.Response.ContentType = "application/json; charset=utf-8";
            return http.Response.Body.WriteAsync(body, http.RequestAborted).AsTask();
        }
        app.MapGet(ApiPath, http => Answer(http, StatusCodes.Status200OK, list));
        app.MapPost(ApiPath, async http =>
        {
            await http.Request.Body.CopyToAsync(Stream.Null, http.RequestAborted);
            await Answer(http, StatusCodes.Status201Created, create);
        });
        await app.StartAsync(ct);
        return (app, new Uri($"http://127.0.0.1:{port}"));
    }

    /// <summary>Deletes every database the run made, through <see cref="DatabaseService.DeleteAsync"/>, so the MariaDB
    /// server is empty again for the next provider.</summary>
    private static async Task RemoveDatabasesAsync(IServiceProvider services, string provider, List<string> accounts)
    {
        var sw = Stopwatch.StartNew();
        var removed = 0;
        await Parallel.ForEachAsync(accounts, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (account, _) =>
        {
            await using var scope = services.CreateAsyncScope();
            var databases = scope.ServiceProvider.GetRequiredService<DatabaseService>();
            foreach (var d in await databases.ListAsync(account, CancellationToken.None))
            {
                var outcome = await databases.DeleteAsync(account, d.Id, d.Name, Actor.Operator, CancellationToken.None);
                if (outcome.Ok) Interlocked.Increment(ref removed);
                else Console.Error.WriteLine($"bench: deleting {d.Name} failed: {outcome.Problem!.Code}");
            }
        });
        Console.WriteLine($"{Name(provider)} metadata: removed the {removed:N0} databases of this run in {sw.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>The 1, 5 and 15 minute load averages, so a run on a busy machine shows it.</summary>
    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static string Name(string provider) => provider == "postgres" ? "PostgreSQL" : "SQLite";

    private static void Print(List<Row> rows)
    {
        Console.WriteLine();
        Console.WriteLine("API throughput and latency, HepDb against a bare Kestrel endpoint answering the same bytes (closed loop):");
        Console.WriteLine($"  {"metadata",-10} {"request",-22} {"server",-7} {"req/s",8} {"p50 ms",7} {"p90 ms",7} {"p99 ms",7} {"failed",7}");
        foreach (var r in rows)
        {
            Line(Name(r.Provider), r.Request, "HepDb", r.HepDb);
            Line("", "", "bare", r.Bare);
            Console.WriteLine($"  {"",-10} {"",-22} {"ratio",-7} {r.HepDb.PerSecond / r.Bare.PerSecond,8:0.000}   (HepDb / bare req/s: " +
                              $"{r.HepDb.PerSecond / r.Bare.PerSecond:P1} of the bare throughput; p50 {r.HepDb.P(50) / r.Bare.P(50):0.0}x the bare latency)");
        }
        Console.WriteLine("  req/s = answered requests with the expected status (200 list, 201 create) / seconds; latencies of those requests.");
        Console.WriteLine($"  Load generator, HepDb and the bare endpoint run in one process on {Environment.ProcessorCount} cores, so each figure includes the client's share.");
    }

    private static void Line(string provider, string request, string server, LoadResult r) =>
        Console.WriteLine($"  {provider,-10} {request,-22} {server,-7} {r.PerSecond,8:0} {r.P(50),7:0.00} {r.P(90),7:0.00} {r.P(99),7:0.00} {r.Failures,7}");
}
