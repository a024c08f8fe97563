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
