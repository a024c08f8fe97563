using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace HepDb.Data.Migrations;

/// <summary>Usage history: per-database and per-engine samples at three resolutions (raw, hourly, daily), with bucket
/// starts in Unix seconds.</summary>
[DbContext(typeof(HepDbContext))]
[Migration("20261207000010_UsageHistory")]
public sealed class UsageHistory : Migration
{
    protected override void Up(MigrationBuilder m)
    {
        m.CreateTable("usage_samples", t => new
        {
            DatabaseId = t.Column<string>(maxLength: 26, nullable: false),
            Resolution = t.Column<int>(nullable: false),
            Bucket = t.Column<long>(nullable: false),
            SizeBytes = t.Column<long>(nullable: false),
            Connections = t.Column<int>(nullable: true),
        }, constraints: t => t.PrimaryKey("PK_usage_samples", x => new { x.DatabaseId, x.Resolution, x.Bucket }));
        m.CreateIndex("IX_usage_samples_Resolution_Bucket", "usage_samples", ["Resolution", "Bucket"]);

        m.CreateTable("fleet_samples", t => new
        {
            Engine = t.Column<string>(maxLength: 16, nullable: false),
            Resolution = t.Column<int>(nullable: false),
            Bucket = t.Column<long>(nullable: false),
            Bytes = t.Column<long>(nullable: false),
            Databases = t.Column<int>(nullable: false),
        }, constraints: t => t.PrimaryKey("PK_fleet_samples", x => new { x.Engine, x.Resolution, x.Bucket }));
    }

    protected override void Down(MigrationBuilder m)
    {
        m.DropTable("fleet_samples");
        m.DropTable("usage_samples");
    }
}
