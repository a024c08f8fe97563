using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using HepDb.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace HepDb.Data;

public static class MetadataStore
{
    /// <summary>Registers <see cref="HepDbContext"/> for the configured provider: a pool of contexts (a context is
    /// reset and reused rather than built per request), handed out per scope and, for singletons such as the API-key
    /// authenticator, through <see cref="IDbContextFactory{TContext}"/>.</summary>
    public static IServiceCollection AddMetadataStore(this IServiceCollection services)
    {
        services.AddSingleton<CommittedWrites>();
        services.AddPooledDbContextFactory<HepDbContext>((sp, options) =>
        {
            Configure(options,
                sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<MetadataOptions>>().Value,
                sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<HepDbOptions>>().Value);
            options.AddInterceptors(sp.GetRequiredService<CommittedWrites>());
        });
        services.AddScoped(sp => sp.GetRequiredService<IDbContextFactory<HepDbContext>>().CreateDbContext());
        return services;
    }

    public static void Configure(DbContextOptionsBuilder options, MetadataOptions metadata, HepDbOptions hepdb)
    {
        if (metadata.Provider == "postgres")
        {
            options.UseNpgsql(metadata.ConnectionString
                ?? throw new InvalidOperationException("Metadata:ConnectionString is required when Metadata:Provider is 'postgres'."));
            return;
        }
        options.UseSqlite(SqliteConnectionString(metadata, hepdb));
        options.AddInterceptors(SqlitePragmas.Instance, SqliteWriteGate.Instance);
    }

    public static string SqliteConnectionString(MetadataOptions metadata, HepDbOptions hepdb)
    {
        if (metadata.ConnectionString is { } cs) return cs;
        var dir = hepdb.ResolveDataDir();
        Directory.CreateDirectory(dir);
        return $"Data Source={Path.Combine(dir, "hepdb.db")};Pooling=True";
    }

    /// <summary>Applies pending migrations. Safe to call from several replicas: PostgreSQL migrations take EF's
    /// migration lock, and SQLite serializes writers.</summary>
    public static async Task MigrateAsync(IServiceProvider services, CancellationToken ct = default)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
        await db.Database.MigrateAsync(ct);
    }

    /// <summary>WAL (readers never block the writer), a busy timeout (writers queue instead of failing), and foreign keys,
    /// set once per SQLite connection: they last as long as the native connection, which the pool keeps open across
    /// many opens, so a pooled open costs no statement.</summary>
    private sealed class SqlitePragmas : DbConnectionInterceptor
    {
        public static readonly SqlitePragmas Instance = new();
        private const string Sql = "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;";
        private static readonly object Set = new();
        private readonly ConditionalWeakTable<object, object> _configured = [];

        public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
        {
            if (!FirstOpen(connection)) return;
            using var cmd = connection.CreateCommand();
            cmd.CommandText = Sql;
            cmd.ExecuteNonQuery();
        }

        public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken ct = default)
        {
            if (!FirstOpen(connection)) return;
            await using var cmd = connection.CreateCommand();
            cmd.CommandText = Sql;
            await cmd.ExecuteNonQueryAsync(ct);
        }

        private bool FirstOpen(DbConnection connection) =>
            connection is not SqliteConnection { Handle: { } native } || _configured.TryAdd(native, Set);
    }
}
