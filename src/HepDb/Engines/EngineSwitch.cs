using HepDb.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace HepDb.Engines;

/// <summary>An operator's runtime decision to stop (or allow again) new databases on an engine. Stored in the metadata
/// store so every replica follows it; configuration's <c>Engines:X:Enabled</c> still has the last word.</summary>
public sealed class EngineSwitch
{
    public required EngineKind Engine { get; init; }
    public bool Enabled { get; set; }
    public DateTime ChangedAt { get; set; }
    public required string ChangedBy { get; set; }
}

/// <summary>The <c>engine_switches</c> table.</summary>
public sealed class EngineSwitchConfiguration : IEntityTypeConfiguration<EngineSwitch>
{
    public void Configure(EntityTypeBuilder<EngineSwitch> e)
    {
        e.ToTable("engine_switches");
        e.HasKey(x => x.Engine);
        e.Property(x => x.Engine).HasMaxLength(16);
        e.Property(x => x.ChangedBy).HasMaxLength(64);
    }
}

/// <summary>Keeps <see cref="EngineRegistry"/> in step with the switches in the metadata store: read at start and every
/// few seconds, so a change made on one replica reaches the others within <see cref="Refresh"/>.</summary>
public sealed class EngineSwitchSync(IServiceScopeFactory scopes, EngineRegistry registry, TimeProvider time, ILogger<EngineSwitchSync> logger)
    : Hosting.PeriodicJob(time, logger)
{
    public static readonly TimeSpan Refresh = TimeSpan.FromSeconds(5);

    protected override TimeSpan Interval => Refresh;

    protected override async Task RunPassAsync(bool atStart, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        await LoadAsync(scope.ServiceProvider.GetRequiredService<HepDbContext>(), registry, ct);
    }

    /// <summary>Reads the switches and applies them to <paramref name="registry"/> (also used by the operator tool,
    /// which has no periodic refresh).</summary>
    public static async Task LoadAsync(HepDbContext db, EngineRegistry registry, CancellationToken ct)
    {
        var off = await db.EngineSwitches.AsNoTracking().Where(s => !s.Enabled).Select(s => s.Engine).ToListAsync(ct);
        registry.SetSwitchedOff(off);
    }
}
