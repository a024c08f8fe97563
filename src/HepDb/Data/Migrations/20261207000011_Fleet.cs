using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace HepDb.Data.Migrations;

/// <summary>Several engine servers per engine: the servers, each database's server (filled at start with its engine's
/// configured server, <c>{engine}/default</c>) and a move in flight, and the fleet history per server. The fleet history
/// per engine is made again keyed by server (SQLite cannot change a primary key in place, and copying rows would take
/// provider-specific SQL): its samples, a few days old at most, start again; the per-database history is kept.</summary>
[DbContext(typeof(HepDbContext))]
[Migration("20261207000011_Fleet")]
public sealed class Fleet : Migration
{
    protected override void Up(MigrationBuilder m)
    {
        m.CreateTable("engine_servers", t => new
        {
            Id = t.Column<string>(maxLength: 80, nullable: false),
            Engine = t.Column<string>(maxLength: 16, nullable: false),
            Name = t.Column<string>(maxLength: 63, nullable: false),
            Host = t.Column<string>(maxLength: 255, nullable: false),
            Port = t.Column<int>(nullable: false),
            PublicHost = t.Column<string>(maxLength: 255, nullable: true),
            PublicPort = t.Column<int>(nullable: true),
            AdminUser = t.Column<string>(maxLength: 64, nullable: false),
            AdminPasswordSealed = t.Column<string>(maxLength: 300, nullable: true),
            RequireTls = t.Column<bool>(nullable: false),
            CaCertificateFile = t.Column<string>(maxLength: 1024, nullable: true),
            HbaFile = t.Column<string>(maxLength: 1024, nullable: true),
            MaxDatabases = t.Column<int>(nullable: true),
            MaxBytes = t.Column<long>(nullable: true),
            State = t.Column<string>(maxLength: 16, nullable: false),
            Configured = t.Column<bool>(nullable: false),
            CreatedAt = t.Column<DateTime>(nullable: false),
            ChangedAt = t.Column<DateTime>(nullable: false),
        }, constraints: t => t.PrimaryKey("PK_engine_servers", x => x.Id));
        m.CreateIndex("IX_engine_servers_Engine_Name", "engine_servers", ["Engine", "Name"], unique: true);

        m.AddColumn<string>("ServerId", "databases", maxLength: 80, nullable: false, defaultValue: "");
        m.AddColumn<string>("MoveToServerId", "databases", maxLength: 80, nullable: true);
        m.CreateIndex("IX_databases_ServerId", "databases", "ServerId");

        m.DropTable("fleet_samples");
        CreateFleetSamples(m);
    }

    private static void CreateFleetSamples(MigrationBuilder m) => m.CreateTable("fleet_samples", t => new
    {
        Engine = t.Column<string>(maxLength: 16, nullable: false),
        Server = t.Column<string>(maxLength: 63, nullable: false),
        Resolution = t.Column<int>(nullable: false),
        Bucket = t.Column<long>(nullable: false),
        Bytes = t.Column<long>(nullable: false),
        Databases = t.Column<int>(nullable: false),
    }, constraints: t => t.PrimaryKey("PK_fleet_samples", x => new { x.Engine, x.Server, x.Resolution, x.Bucket }));

    protected override void Down(MigrationBuilder m)
    {
        m.DropTable("fleet_samples");
        m.CreateTable("fleet_samples", t => new
        {
            Engine = t.Column<string>(maxLength: 16, nullable: false),
            Resolution = t.Column<int>(nullable: false),
            Bucket = t.Column<long>(nullable: false),
            Bytes = t.Column<long>(nullable: false),
            Databases = t.Column<int>(nullable: false),
        }, constraints: t => t.PrimaryKey("PK_fleet_samples", x => new { x.Engine, x.Resolution, x.Bucket }));
        m.DropIndex("IX_databases_ServerId", "databases");
        m.DropColumn("MoveToServerId", "databases");
        m.DropColumn("ServerId", "databases");
        m.DropTable("engine_servers");
    }
}
