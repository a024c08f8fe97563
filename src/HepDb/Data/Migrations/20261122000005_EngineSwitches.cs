using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace HepDb.Data.Migrations;

/// <summary>Operators' runtime on/off switches for new databases per engine.</summary>
[DbContext(typeof(HepDbContext))]
[Migration("20261122000005_EngineSwitches")]
public sealed class EngineSwitches : Migration
{
    protected override void Up(MigrationBuilder m) =>
        m.CreateTable("engine_switches", t => new
        {
            Engine = t.Column<string>(maxLength: 16),
            Enabled = t.Column<bool>(),
            ChangedAt = t.Column<DateTime>(),
            ChangedBy = t.Column<string>(maxLength: 64),
        }, constraints: t => t.PrimaryKey("PK_engine_switches", x => x.Engine));

    protected override void Down(MigrationBuilder m) => m.DropTable("engine_switches");
}
