using HepDb.Data;
using HepDb.Engines;
using HepDb.Health;
using HepDb.Hosting.LocalEngines;
using HepDb.Security;
using Microsoft.Extensions.Options;

namespace HepDb.Hosting;

/// <summary>The table of contents of the server: every feature's services and routes, in one place.</summary>
public static class ServiceSetup
{
    public static WebApplicationBuilder AddHepDb(this WebApplicationBuilder builder)
    {
        var s = builder.Services;
        s.AddOptions<HepDbOptions>().BindConfiguration(HepDbOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        s.AddOptions<MetadataOptions>().BindConfiguration(MetadataOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        s.AddOptions<SecretsOptions>().BindConfiguration(SecretsOptions.Section);
        s.AddOptions<EnginesOptions>().BindConfiguration(EnginesOptions.Section)
            .PostConfigure<IOptions<HepDbOptions>>((e, h) => LocalEngineServers.ApplyLocalCredentials(e, h.Value.ResolveDataDir()))
            .Validate(e => e.MariaDb.Enabled, "Engines:MariaDb:Enabled cannot be false: MariaDB is the primary pool and always available.")
            .Validate(e => new[] { e.MariaDb, e.Postgres, e.Mongo }.All(x => x.Port is > 0 and <= 65535), "Engines:*:Port must be 1-65535.")
            .ValidateOnStart();

        s.AddSingleton(TimeProvider.System);
        s.AddMetadataStore();
        s.AddSingleton(sp => SecretBox.Create(sp.GetRequiredService<IOptions<SecretsOptions>>(), sp.GetRequiredService<IOptions<HepDbOptions>>()));
        s.AddSingleton<IEngineAdapterFactory, MariaDbAdapterFactory>();
        s.AddSingleton<IEngineAdapterFactory, PostgresAdapterFactory>();
        s.AddSingleton<IEngineAdapterFactory, MongoAdapterFactory>();
        s.AddSingleton<EngineRegistry>();
        s.AddHostedService<StartupWork>();
        s.AddOpenApi();
        return builder;
    }

    public static WebApplication MapHepDb(this WebApplication app)
    {
        app.MapHealth();
        app.MapOpenApi("/openapi/{documentName}.json");
        return app;
    }
}
