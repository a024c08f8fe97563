using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

namespace HepDb.Data.Migrations;

/// <summary>The per-database history keyed by a small integer per database (<c>usage_series</c>) instead of its
/// 26-character id, which every row stored twice (table and key): about half the bytes a row. The samples are copied
/// into the new <c>database_samples</c> with two statements of SQL both providers read alike, then the old table goes.</summary>
[DbContext(typeof(HepDbContext))]
[Migration("20261207000012_UsageSeries")]
public sealed class UsageSeries : Migration
{
    protected override void Up(MigrationBuilder m)
    {
        m.CreateTable("usage_series", t => new
        {
            Key = t.Column<long>(nullable: false)
                .Annotation("Sqlite:Autoincrement", true)
                .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
            DatabaseId = t.Column<string>(maxLength: 26, nullable: false),
        }, constraints: t => t.PrimaryKey("PK_usage_series", x => x.Key));
        m.CreateIndex("IX_usage_series_DatabaseId", "usage_series", "DatabaseId", unique: true);

        m.CreateTable("database_samples", t => new
        {
            Series = t.Column<long>(nullable: false),
            Resolution = t.Column<int>(nullable: false),
            Bucket = t.Column<long>(nullable: false),
            SizeBytes = t.Column<long>(nullable: false),
            Connections = t.Column<int>(nullable: true),
        }, constraints: t => t.PrimaryKey("PK_database_samples", x => new { x.Series, x.Resolution, x.Bucket }));
        m.CreateIndex("IX_database_samples_Resolution_Bucket", "database_samples", ["Resolution", "Bucket"]);

        m.Sql("""INSERT INTO usage_series ("DatabaseId") SELECT DISTINCT "DatabaseId" FROM usage_samples""");
        m.Sql("""
              INSERT INTO database_samples ("Series", "Resolution", "Bucket", "SizeBytes", "Connections")
              SELECT s."Key", u."Resolution", u."Bucket", u."SizeBytes", u."Connections"
              FROM usage_samples u JOIN usage_series s ON s."DatabaseId" = u."DatabaseId"
              """);
        m.DropTable("usage_samples");
    }

    protected override void Down(MigrationBuilder m)
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
        m.Sql("""
              INSERT INTO usage_samples ("DatabaseId", "Resolution", "Bucket", "SizeBytes", "Connections")
              SELECT s."DatabaseId", d."Resolution", d."Bucket", d."SizeBytes", d."Connections"
              FROM database_samples d JOIN usage_series s ON s."Key" = d."Series"
              """);
        m.DropTable("database_samples");
        m.DropTable("usage_series");
    }
}
