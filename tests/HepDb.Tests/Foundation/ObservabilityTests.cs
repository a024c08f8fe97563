extern alias cli;

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using HepDb.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using AdminTool = cli::HepDb.Cli.AdminTool;

namespace HepDb.Tests.Foundation;

/// <summary>What an operator sees of a real HepDb process: a scripted workload through the API, then every kind of
/// metric documented in docs/operations.md on the metrics listener with the values the workload implies, nothing of it
/// on the public port, and JSON log lines that parse and carry event ids and the request id the response named. A
/// process of its own, so no other test's work counts in its metrics.</summary>
public sealed class ObservabilityTests(EngineServers engines)
{
    private readonly List<string> _output = [];

    [Fact]
    public async Task A_scripted_workload_shows_on_the_metrics_listener_and_in_JSON_logs_with_request_ids()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), $"hepdb-observe-{Guid.NewGuid():N}");
        var (httpPort, metricsPort) = (EngineServers.FreePort(), EngineServers.FreePort());
        var started = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        using var hepdb = Start(dataDir, httpPort, metricsPort);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(60) };
            await WaitAsync(async () => (await TryGetAsync(http, "/readyz"))?.IsSuccessStatusCode == true, "ready");
            var key = (await QuickstartKeyAsync(dataDir)).Trim();

            // The workload.
            http.DefaultRequestHeaders.Authorization = new("Bearer", key);
            var created = await http.PostAsync("/api/v1/db/databases", Requests("""{"name":"observed","engine":"mariadb"}"""));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var requestId = Assert.Single(created.Headers.GetValues("X-Request-Id"));
            var id = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("data").GetProperty("database").GetProperty("id").GetString();
            Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsync("/api/v1/db/databases", Requests("""{"name":"x","engine":"nope"}"""))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/api/v1/db/databases/{id}")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.PostAsync($"/api/v1/db/databases/{id}/rotate", null)).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await http.PostAsync($"/api/v1/db/databases/{id}/backups", null)).StatusCode);
            using var stranger = new HttpClient { BaseAddress = http.BaseAddress };
            stranger.DefaultRequestHeaders.Authorization = new("Bearer", "hepgg_db_" + new string('x', 32));
            for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.GetAsync("/api/v1/db/databases")).StatusCode);
            Assert.Equal(HttpStatusCode.TooManyRequests, (await stranger.GetAsync("/api/v1/db/databases")).StatusCode); // 3 failures a minute
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/metrics")).StatusCode); // never on the public port

            // Metrics, once the sampler and a watcher pass have seen the database.
            using var scraper = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            var text = "";
            await WaitAsync(async () =>
            {
                text = await scraper.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics");
                return Value(text, "hepdb_engine_databases", ("engine", "mariadb")) == 1
                    && Value(text, "hepdb_job_last_success_timestamp_seconds", ("job", "QuotaWatcher")) >= started + 1;
            }, "the metrics to show the workload");
            var results = Path.Combine(Browser.RepoRoot(), "TestResults");
            Directory.CreateDirectory(results);
            await File.WriteAllTextAsync(Path.Combine(results, "metrics-sample.txt"), text); // what a scrape looks like, for the docs
            Assert.Equal(1, Value(text, "hepdb_database_operations_total", ("engine", "mariadb"), ("operation", "create"), ("outcome", "ok")));
            Assert.Equal(1, Value(text, "hepdb_database_operations_total", ("engine", "unknown"), ("operation", "create"), ("outcome", "refused")));
            Assert.Equal(1, Value(text, "hepdb_database_operations_total", ("engine", "mariadb"), ("operation", "reveal"), ("outcome", "ok")));
            Assert.Equal(1, Value(text, "hepdb_database_operations_total", ("engine", "mariadb"), ("operation", "rotate"), ("outcome", "ok")));
            Assert.Equal(1, Value(text, "hepdb_backups_total", ("engine", "mariadb"), ("kind", "manual"), ("outcome", "complete")));
            Assert.Equal(3, Value(text, "hepdb_authentication_failures_total"));
            Assert.Equal(1, Value(text, "hepdb_rate_limited_total", ("limit", "failed_auth")));
            Assert.Equal(1, Value(text, "http_server_request_duration_seconds_count",
                ("http_request_method", "POST"), ("http_response_status_code", "201"), ("http_route", "/api/v1/db/databases")));
            Assert.Equal(1, Value(text, "hepdb_engine_up", ("engine", "mariadb")));
            Assert.Equal(1, Value(text, "hepdb_engine_up", ("engine", "postgres")));
            Assert.Equal(1, Value(text, "hepdb_engine_up", ("engine", "mariadb"), ("server", "default")));
            Assert.Equal(100, Value(text, "hepdb_engine_capacity_databases", ("engine", "mariadb"), ("server", "default")));
            Assert.Equal(1073741824, Value(text, "hepdb_engine_capacity_size_bytes", ("engine", "mariadb"), ("server", "default")));
            Assert.Null(Value(text, "hepdb_engine_capacity_databases", ("engine", "postgres")));
            Assert.InRange(Value(text, "hepdb_engine_latency_seconds", ("engine", "mariadb"))!.Value, 0, 5);
            Assert.InRange(Value(text, "hepdb_engine_size_bytes", ("engine", "mariadb"))!.Value, 0, 1 << 20);
            Assert.Equal(1, Value(text, "hepdb_accounts", ("state", "active"))); // the quickstart operator's account
            Assert.Equal(0, Value(text, "hepdb_accounts", ("state", "suspended")));
            Assert.True(Value(text, "hepdb_job_pass_duration_seconds_count", ("job", "Reconciler")) >= 1);
            Assert.NotNull(Value(text, "dotnet_gc_collections_total")); // the runtime instrumentation

            // The docs list every HepDb metric the scrape has, and the shipped dashboard and alert rules use only real ones.
            var scraped = System.Text.RegularExpressions.Regex.Matches(text, @"^(hepdb_\w+?)(_bucket|_count|_sum)?[{ ]", System.Text.RegularExpressions.RegexOptions.Multiline)
                .Select(m => m.Groups[1].Value).ToHashSet();
            var operations = await File.ReadAllTextAsync(Path.Combine(Browser.RepoRoot(), "docs", "operations.md"));
            Assert.All(scraped, m => Assert.Contains($"`{m}`", operations, StringComparison.Ordinal));
            foreach (var shipped in new[] { "grafana-dashboard.json", "prometheus-alerts.yml" })
            {
                var used = System.Text.RegularExpressions.Regex.Matches(await File.ReadAllTextAsync(Path.Combine(Browser.RepoRoot(), "docs", shipped)), @"\b(hepdb_\w+|http_server_request_duration_seconds)(_bucket|_count|_sum)?\b")
                    .Select(m => m.Groups[1].Value).Distinct().ToList();
                Assert.NotEmpty(used);
                Assert.All(used, m => Assert.Contains(m + (m.StartsWith("http_", StringComparison.Ordinal) ? "_count" : ""), text, StringComparison.Ordinal));
            }

            // JSON logs: every line parses; the create's event carries the request id its response named.
            await hepdb.StopGracefullyAsync();
            string[] lines;
            lock (_output) lines = [.. _output.Where(l => l.Length > 0)];
            var entries = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
            Assert.All(entries, e => Assert.True(e.TryGetProperty("EventId", out _)));
            var done = Assert.Single(entries, e => e.GetProperty("EventId").GetInt32() == 2010
                && e.GetProperty("State").GetProperty("Operation").GetString() == "create");
            Assert.Contains(done.GetProperty("Scopes").EnumerateArray(),
                s => s.ValueKind == JsonValueKind.Object && s.TryGetProperty("RequestId", out var r) && r.GetString() == requestId);
            Assert.DoesNotContain(key, string.Join('\n', lines), StringComparison.Ordinal);
        }
        finally
        {
            hepdb.Kill();
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    [Fact]
    public async Task A_metrics_port_held_by_another_process_costs_the_metrics_and_not_the_service()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), $"hepdb-observe-{Guid.NewGuid():N}");
        var (httpPort, metricsPort) = (EngineServers.FreePort(), EngineServers.FreePort());
        var holder = new System.Net.Sockets.TcpListener(IPAddress.Loopback, metricsPort);
        holder.Start();
        using var hepdb = Start(dataDir, httpPort, metricsPort);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(60) };
            await WaitAsync(async () => (await TryGetAsync(http, "/readyz"))?.IsSuccessStatusCode == true, "ready");
            await hepdb.StopGracefullyAsync();
            string[] lines;
            lock (_output) lines = [.. _output.Where(l => l.Length > 0)];
            var notice = Assert.Single(lines.Select(l => JsonDocument.Parse(l).RootElement), e => e.GetProperty("EventId").GetInt32() == 1050);
            Assert.Contains(metricsPort.ToString(CultureInfo.InvariantCulture), notice.GetProperty("Message").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            holder.Stop();
            hepdb.Kill();
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    [Fact]
    public void An_in_process_test_app_serves_no_metrics_listener_unless_asked()
    {
        using var app = new HepDbApp(engines);
        Assert.Null(app.Services.GetService<HepDb.Hosting.MetricsSampler>());
    }

    /// <summary>The value of the first sample of <paramref name="name"/> whose labels include <paramref name="labels"/>, or
    /// null when there is none. A sample line is <c>name{label="value",…} value [timestamp]</c>.</summary>
    private static double? Value(string exposition, string name, params (string Label, string Value)[] labels)
    {
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith('#') || !(line.StartsWith(name + "{", StringComparison.Ordinal) || line.StartsWith(name + " ", StringComparison.Ordinal))) continue;
            var end = line.IndexOf('}', StringComparison.Ordinal);
            var labelText = end < 0 ? "" : line[(name.Length + 1)..end];
            if (!labels.All(l => labelText.Contains($"{l.Label}=\"{l.Value}\"", StringComparison.Ordinal))) continue;
            var rest = line[((end < 0 ? name.Length : end + 1))..].Trim().Split(' ');
            return double.Parse(rest[0], CultureInfo.InvariantCulture);
        }
        return null;
    }

    private static StringContent Requests(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    private Runner Start(string dataDir, int httpPort, int metricsPort)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "HepDb.dll"));
        foreach (var (k, v) in engines.Settings()) psi.Environment[k.Replace(":", "__", StringComparison.Ordinal)] = v;
        psi.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{httpPort}";
        psi.Environment["HepDb__DataDir"] = dataDir;
        psi.Environment["HepDb__LogFormat"] = "json";
        psi.Environment["Metrics__Port"] = metricsPort.ToString(CultureInfo.InvariantCulture);
        psi.Environment["Metrics__SampleInterval"] = "00:00:01";
        // The configured MariaDB server with a capacity, so its capacity gauges have samples (they have none without).
        psi.Environment["Engines__MariaDb__MaxDatabases"] = "100";
        psi.Environment["Engines__MariaDb__MaxBytes"] = "1073741824";
        psi.Environment["QuotaWatcher__Interval"] = "00:00:02";
        psi.Environment["RateLimits__FailedAuthPerIpPerMinute"] = "3";
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.Add(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.Add(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return new Runner(p);
    }

    /// <summary>The operator tool's quickstart on the process's data folder: its first line is a fresh API key.</summary>
    private async Task<string> QuickstartKeyAsync(string dataDir)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var settings = new Dictionary<string, string?>(engines.Settings()) { ["HepDb:DataDir"] = dataDir };
        Assert.Equal(0, await AdminTool.RunAsync(["quickstart", "--email", "ops@example.com"], output, error, TextReader.Null, settings));
        return output.ToString().Split('\n')[0];
    }

    private static async Task<HttpResponseMessage?> TryGetAsync(HttpClient http, string path)
    {
        try
        {
            return await http.GetAsync(path);
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    private async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            string tail;
            lock (_output) tail = string.Join('\n', _output.TakeLast(20));
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(90), $"Timed out waiting for {what}:\n{tail}");
            await Task.Delay(250);
        }
    }

    private sealed class Runner(Process process) : IDisposable
    {
        /// <summary>SIGTERM, and waits for the process to flush its logs and exit.</summary>
        public async Task StopGracefullyAsync()
        {
            Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(cts.Token);
            process.WaitForExit(); // the redirected output is read to its end
        }

        public void Kill()
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }

        public void Dispose() => process.Dispose();
    }
}
