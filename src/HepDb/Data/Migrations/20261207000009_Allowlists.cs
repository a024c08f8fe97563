using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace HepDb.Data.Migrations;

/// <summary>Per-database IP allowlists: the allowed ranges and whether they are still to be applied on the engine.</summary>
[DbContext(typeof(HepDbContext))]
[Migration("20261207000009_Allowlists")]
public sealed class Allowlists : Migration
{
    protected override void Up(MigrationBuilder m)
    {
        m.AddColumn<string>("AllowedCidrs", "databases", maxLength: 2500, nullable: true);
        m.AddColumn<bool>("AllowlistPending", "databases", nullable: false, defaultValue: false);
    }

    protected override void Down(MigrationBuilder m)
    {
        m.DropColumn("AllowlistPending", "databases");
        m.DropColumn("AllowedCidrs", "databases");
    }
}
