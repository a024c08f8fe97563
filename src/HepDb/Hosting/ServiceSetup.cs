using HepDb.Accounts;
using HepDb.Api;
using HepDb.ApiKeys;
using HepDb.Backups;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Health;
using HepDb.Hosting.LocalEngines;
using HepDb.Quotas;
using HepDb.Security;
using HepDb.Web;
using HepDb.Web.Admin;
using Microsoft.Extensions.Options;

namespace HepDb.Hosting;

/// <summary>The table of contents of the server: every feature's services and routes, in one place.</summary>
public static class ServiceSetup
{
    public static WebApplicationBuilder AddHepDb(this WebApplicationBuilder builder)
    {
        builder.Services.AddHepDbServices();
        builder.Services.AddHostedService<StartupWork>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<KeyUsageRecorder>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Reconciler>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<QuotaWatcher>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Fleet.FleetSync>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<BackupScheduler>());
        builder.Services.AddDashboard();
        builder.Services.AddAuthentication().AddApiKeys();
        builder.Services.AddAuthorization(o => o.AddApiKeyPolicy());
        builder.Services.AddApiRateLimits();
        builder.Services.AddHepDbForwardedHeaders();
        builder.Services.AddOpenApi();
        builder.AddHepDbMetrics();
        builder.AddHepDbLogging();
        return builder;
    }

    /// <summary>Options and services shared by the server and the operator tool.</summary>
    public static IServiceCollection AddHepDbServices(this IServiceCollection s)
    {
        s.AddOptions<HepDbOptions>().BindConfiguration(HepDbOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        s.AddOptions<MetadataOptions>().BindConfiguration(MetadataOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        s.AddOptions<SecretsOptions>().BindConfiguration(SecretsOptions.Section);
        s.AddOptions<EnginesOptions>().BindConfiguration(EnginesOptions.Section)
            .PostConfigure<IOptions<HepDbOptions>>((e, h) => LocalEngineServers.ApplyLocalCredentials(e, h.Value.ResolveDataDir()))
            .Validate(e => e.MariaDb.Enabled, "Engines:MariaDb:Enabled cannot be false: MariaDB is the primary pool and always available.")
            .Validate(e => new[] { e.MariaDb, e.Postgres, e.Mongo }.All(x => x.Port is > 0 and <= 65535), "Engines:*:Port must be 1-65535.")
            .ValidateOnStart();

        s.AddOptions<TiersOptions>().BindConfiguration(TiersOptions.Section)
            .Validate(t => new[] { t.Free, t.Premium, t.Admin }.All(x => x.Databases >= 0 && x.StorageMb >= 0 && x.ConnectionsPerUser > 0 && x.ActiveKeys >= 0),
                "Tiers: limits must not be negative, and every tier needs at least one connection per user.")
            .ValidateOnStart();
        s.AddOptions<PacksOptions>().BindConfiguration(PacksOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        s.AddOptions<PaymentsOptions>().BindConfiguration(PaymentsOptions.Section);
        s.AddOptions<QuotaWatcherOptions>().BindConfiguration(QuotaWatcherOptions.Section)
            .Validate(q => q.Interval > TimeSpan.Zero, "QuotaWatcher:Interval must be positive.").ValidateOnStart();
        s.AddOptions<Usage.UsageHistoryOptions>().BindConfiguration(Usage.UsageHistoryOptions.Section);
        s.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section);
        s.AddOptions<ReconcilerOptions>().BindConfiguration(ReconcilerOptions.Section)
            .Validate(r => r.Interval > TimeSpan.Zero && r.StaleAfter > TimeSpan.Zero, "Reconciler: Interval and StaleAfter must be positive.")
            .ValidateOnStart();

        s.AddOptions<BackupsOptions>().BindConfiguration(BackupsOptions.Section)
            .Validate(b => b.Interval > TimeSpan.Zero && b.RecoveryWindow >= TimeSpan.Zero, "Backups: Interval must be positive and RecoveryWindow not negative.")
            .ValidateOnStart();

        s.AddSingleton(TimeProvider.System);
        s.AddSingleton<InstanceIdentity>();
        s.AddMetadataStore();
        s.AddSingleton(sp => SecretBox.Create(sp.GetRequiredService<IOptions<SecretsOptions>>(), sp.GetRequiredService<IOptions<HepDbOptions>>()));
        s.AddSingleton<IEngineAdapterFactory, MariaDbAdapterFactory>();
        s.AddSingleton<IEngineAdapterFactory, PostgresAdapterFactory>();
        s.AddSingleton<IEngineAdapterFactory, MongoAdapterFactory>();
        s.AddSingleton<EngineRegistry>();
        s.AddSingleton(sp => new LocalEngineStatus(sp.GetRequiredService<IOptions<HepDbOptions>>().Value.ResolveDataDir()));
        s.AddScoped<AccountService>();
        s.AddScoped<ApiKeyService>();
        s.AddScoped<DatabaseService>();
        s.AddSingleton<ApiKeyAuthenticator>();
        s.AddSingleton<DatabaseLists>();
        s.AddSingleton<KeyUsageRecorder>();
        s.AddSingleton<Reconciler>();
        s.AddScoped<AccountEnforcer>();
        s.AddScoped<Suspension>();
        s.AddScoped<PackService>();
        s.AddSingleton<QuotaWatcher>();
        s.AddScoped<Usage.UsageHistory>();
        s.AddSingleton<Usage.LastSamples>();
        s.AddSingleton<Fleet.FleetSync>();
        s.AddSingleton<IBackupStore>(sp => new FolderBackupStore(sp.GetRequiredService<IOptions<BackupsOptions>>().Value
            .ResolveFolder(sp.GetRequiredService<IOptions<HepDbOptions>>().Value.ResolveDataDir())));
        s.AddSingleton<DatabaseLocks>();
        s.AddScoped<BackupService>();
        s.AddScoped<Allowlists.AllowlistService>();
        s.AddScoped<BackupHealth>();
        s.AddScoped<DeletedDatabases>();
        s.AddSingleton<BackupScheduler>();
        s.AddScoped<AdminService>();
        s.AddScoped<Fleet.FleetService>();
        s.AddScoped<Fleet.DatabaseMover>();
        s.AddScoped<Audit.AuditReader>();
        s.AddDashboardUsers();
        return s;
    }

    public static WebApplication MapHepDb(this WebApplication app)
    {
        // The real client's address before anything reads it: only from the proxies in Network (none by default).
        app.UseHepDbForwardedHeaders();
        app.UseRequestIds();
        // One error format each side: the JSON envelope on the API, the dashboard's short page elsewhere; neither shows
        // the exception (it is logged).
        app.UseExceptionHandler(errors => errors.Run(http =>
            ApiEnvelope.IsApiPath(http.Request.Path) ? ApiEnvelope.WriteAsync(http, ApiErrors.Internal) : DashboardSetup.WriteErrorPageAsync(http)));
        app.MapDashboard(); // first its status-code pages, so they also dress the refusals of the middleware below
        // Who is calling (the dashboard's cookie, or an API key where an endpoint asks for it), whether they may, and
        // whether they are within their request limits: for every endpoint, in this order.
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.MapHealth();
        app.MapDatabaseApi();
        app.MapPaymentWebhook();
        app.MapOpenApi("/openapi/{documentName}.json");
        return app;
    }
}
