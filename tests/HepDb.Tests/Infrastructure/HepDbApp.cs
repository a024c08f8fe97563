using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using HepDb.Accounts;
using HepDb.ApiKeys;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Engines;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HepDb.Tests.Infrastructure;

/// <summary>An account made for one test, with a working API key and a client that sends it.</summary>
public sealed record TestAccount(string Id, string Key, HttpClient Api)
{
    public string Slug => Account.NameSlug(Id);
}

/// <summary>
/// A HepDb server in-process with its own data folder and metadata store (a SQLite file, or its own PostgreSQL database
/// when <paramref name="engines"/> is a <see cref="EngineServers.On"/> view for PostgreSQL and the settings name no store),
/// using the shared real engine servers.
/// Every secret it hands out through these helpers is remembered in <see cref="SecretsSeen"/>, and everything it
/// logs (at every level) is kept in <see cref="Log"/>, so tests can prove secrets never leak.
/// </summary>
public class HepDbApp(EngineServers engines, Dictionary<string, string?>? overrides = null, string? dataDir = null, TimeProvider? clock = null)
    : WebApplicationFactory<Program>
{
    /// <summary>The data folder; pass the same one to a second instance to simulate a restart.</summary>
    public string DataDir { get; } = dataDir ?? Path.Combine(Path.GetTempPath(), $"hepdb-app-{Guid.NewGuid():N}");
    private readonly bool _ownsDataDir = dataDir is null;
    private string? _ownedPostgresStore;
    public CapturedLog Log { get; } = new();
    public List<string> SecretsSeen { get; } = [];
    public EngineServers Engines => engines;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        var settings = new Dictionary<string, string?>(engines.Settings())
        {
            ["HepDb:DataDir"] = DataDir,
            ["Reconciler:Interval"] = "01:00:00",
            ["QuotaWatcher:Interval"] = "01:00:00",
            ["Backups:Interval"] = "01:00:00",
        };
        foreach (var (k, v) in overrides ?? []) settings[k] = v;
        if (engines.Metadata == Metadata.Postgres && !settings.ContainsKey("Metadata:Provider"))
        {
            settings["Metadata:Provider"] = "postgres";
            var storeDataDir = settings["HepDb:DataDir"]!;
            settings["Metadata:ConnectionString"] = engines.MetadataDatabaseFor(storeDataDir);
            if (_ownsDataDir && storeDataDir == DataDir) _ownedPostgresStore = settings["Metadata:ConnectionString"];
        }
        builder.ConfigureAppConfiguration(c => c.AddInMemoryCollection(settings));
        // Read while the services are registered (before the collection above applies): no metrics listener per test
        // app, unless a test asks for one.
        builder.UseSetting("Metrics:Enabled", settings.GetValueOrDefault("Metrics:Enabled") ?? "false");
        builder.ConfigureLogging(l => l.AddProvider(Log).SetMinimumLevel(LogLevel.Trace));
        if (clock is not null) builder.ConfigureServices(s => s.AddSingleton(clock));
    }

    public async Task<TestAccount> CreateAccountAsync(Tier tier = Tier.Free)
    {
        await using var scope = Services.CreateAsyncScope();
        var account = (await scope.ServiceProvider.GetRequiredService<AccountService>()
            .CreateAsync($"{Guid.NewGuid():N}@test.local", tier.WireName(), Actor.Operator, CancellationToken.None)).Value!;
        var key = await MintKeyAsync(account.Id);
        return new TestAccount(account.Id, key, ApiClient(key));
    }

    public async Task<string> MintKeyAsync(string accountId, string? label = null)
    {
        await using var scope = Services.CreateAsyncScope();
        var minted = await scope.ServiceProvider.GetRequiredService<ApiKeyService>().MintAsync(accountId, label, Actor.Operator, CancellationToken.None);
        Assert.True(minted.Ok, minted.Problem?.Message);
        SecretsSeen.Add(minted.Value!.Value);
        return minted.Value.Value;
    }

    /// <summary>Serves on a real loopback port (Kestrel) instead of the in-memory test server, for browsers and for
    /// what only a real socket has, such as the client IP. Returns the base URL.</summary>
    public string StartRealServer()
    {
        UseKestrel(o => o.Listen(System.Net.IPAddress.Loopback, 0));
        StartServer();
        var addresses = Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses;
        BaseUrl = addresses.First();
        return BaseUrl;
    }

    /// <summary>Set by <see cref="StartRealServer"/>.</summary>
    public string? BaseUrl { get; private set; }

    public HttpClient ApiClient(string? key, string scheme = "Bearer")
    {
        var client = BaseUrl is null ? CreateClient() : new HttpClient { BaseAddress = new Uri(BaseUrl) };
        if (key is not null) client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", scheme.Length == 0 ? key : $"{scheme} {key}");
        return client;
    }

    /// <summary>Runs <paramref name="work"/> with a fresh scope's metadata context.</summary>
    public async Task<T> WithDbAsync<T>(Func<HepDbContext, Task<T>> work)
    {
        await using var scope = Services.CreateAsyncScope();
        return await work(scope.ServiceProvider.GetRequiredService<HepDbContext>());
    }

    /// <summary>Done once the reconciler's own pass at start is over. A test that leaves work for the reconciler (a stale
    /// record, a cut move, an orphan) waits for it first, or that pass may take the work before the test's own pass.</summary>
    public Task ReconcilerStarted => Services.GetRequiredService<HepDb.Databases.Reconciler>().FirstPass;

    /// <summary>Done once the quota watcher's own pass at start is over. A test that leaves an account half-enforced on
    /// purpose (a cut cascade) waits for it first, or that pass may converge the account before the test looks.</summary>
    public Task WatcherStarted => Services.GetRequiredService<HepDb.Quotas.QuotaWatcher>().FirstPass;

    public IEngineAdapter Engine(EngineKind kind) => Services.GetRequiredService<EngineRegistry>().Default(kind);

    /// <summary>Creates a database through the API and returns the parsed <c>data</c> (failing the test on anything but 201).</summary>
    public async Task<CreatedDatabase> CreateDatabaseAsync(TestAccount account, string engine, string name = "my-app")
    {
        var response = await account.Api.PostAsJsonAsync("/api/v1/db/databases", new { name, engine });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Created,
            $"{body}\nServer log, errors:\n{string.Join('\n', Log.Lines.Where(l => l.Contains("fail", StringComparison.OrdinalIgnoreCase) || l.Contains("Exception", StringComparison.Ordinal)).TakeLast(10))}");
        var created = CreatedDatabase.Parse(body);
        SecretsSeen.Add(created.Password);
        return created;
    }

    public void Remember(string secret) => SecretsSeen.Add(secret);

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        // What belongs to this instance alone goes with it: its data folder and, on PostgreSQL, its store (a test that
        // restarts on the same data folder names its own folder and keeps both).
        if (_ownsDataDir)
        {
            try { Directory.Delete(DataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            if (_ownedPostgresStore is not null) engines.DropMetadataDatabase(_ownedPostgresStore);
        }
        GC.SuppressFinalize(this);
    }
}

/// <summary>The <c>data</c> of a create, reveal or rotate answer.</summary>
public sealed record CreatedDatabase(string Id, string Engine, string DbName, string DbUser, string Status, string Host, int Port, string Password, string ConnectionString, JsonElement Raw)
{
    public static CreatedDatabase Parse(string body)
    {
        using var doc = JsonDocument.Parse(body);
        var data = doc.RootElement.GetProperty("data");
        var db = data.GetProperty("database");
        return new CreatedDatabase(db.GetProperty("id").GetString()!, db.GetProperty("engine").GetString()!, db.GetProperty("dbName").GetString()!,
            db.GetProperty("dbUser").GetString()!, db.GetProperty("status").GetString()!, data.GetProperty("host").GetString()!,
            data.GetProperty("port").GetInt32(), data.GetProperty("password").GetString()!, data.GetProperty("connectionString").GetString()!, data.Clone());
    }
}

public static class ApiAssert
{
    /// <summary>Asserts an error envelope with <paramref name="status"/> and <paramref name="code"/>; returns the message.</summary>
    public static async Task<string> ErrorAsync(HttpResponseMessage response, int status, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status} {code}, got {(int)response.StatusCode}: {body}");
        using var doc = JsonDocument.Parse(body);
        Assert.False(doc.RootElement.GetProperty("ok").GetBoolean());
        Assert.Equal(code, doc.RootElement.GetProperty("code").GetString());
        var message = doc.RootElement.GetProperty("error").GetString()!;
        Assert.False(string.IsNullOrWhiteSpace(message));
        Assert.Equal(MediaTypeHeaderValue.Parse("application/json; charset=utf-8").MediaType, response.Content.Headers.ContentType?.MediaType);
        return message;
    }

    public static async Task<JsonElement> OkAsync(HttpResponseMessage response, int status = 200)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {body}");
        using var doc = JsonDocument.Parse(body);
        Assert.True(doc.RootElement.GetProperty("ok").GetBoolean());
        return doc.RootElement.GetProperty("data").Clone();
    }
}
