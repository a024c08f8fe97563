using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace HepDb.Data.Migrations;

/// <summary>Backups, and the restore journal on each database (the backup being restored and the safety copy of the
/// contents before it).</summary>
[DbContext(typeof(HepDbContext))]
[Migration("20261207000007_Backups")]
public sealed class Backups : Migration
{
    protected override void Up(MigrationBuilder m)
    {
        m.CreateTable("backups", t => new
        {
            Id = t.Column<string>(maxLength: 26),
            AccountId = t.Column<string>(maxLength: 26),
            DatabaseId = t.Column<string>(maxLength: 26),
            Engine = t.Column<string>(maxLength: 16),
            DbName = t.Column<string>(maxLength: 64),
            DatabaseName = t.Column<string>(maxLength: 64),
            Kind = t.Column<string>(maxLength: 16),
            Status = t.Column<string>(maxLength: 16),
            CreatedAt = t.Column<DateTime>(),
            CompletedAt = t.Column<DateTime>(nullable: true),
            SizeBytes = t.Column<long>(),
            DumpBytes = t.Column<long>(),
            DurationMs = t.Column<long>(),
            EngineVersion = t.Column<string>(maxLength: 100, nullable: true),
            KeyId = t.Column<string>(maxLength: 64, nullable: true),
            Error = t.Column<string>(maxLength: 1000, nullable: true),
            Holder = t.Column<string>(maxLength: 64, nullable: true),
            RequestedBy = t.Column<string>(maxLength: 64),
            ExpiresAt = t.Column<DateTime>(nullable: true),
            RecoveredInto = t.Column<string>(maxLength: 26, nullable: true),
        }, constraints: t => t.PrimaryKey("PK_backups", x => x.Id));
        m.CreateIndex("IX_backups_DatabaseId_CreatedAt", "backups", ["DatabaseId", "CreatedAt"]);
        m.CreateIndex("IX_backups_AccountId_Kind", "backups", ["AccountId", "Kind"]);
        m.CreateIndex("IX_backups_Status", "backups", "Status");

        m.AddColumn<string>("RestoreBackupId", "databases", maxLength: 26, nullable: true);
        m.AddColumn<string>("RestoreSafetyId", "databases", maxLength: 26, nullable: true);
    }

    protected override void Down(MigrationBuilder m)
    {
        m.DropColumn("RestoreSafetyId", "databases");
        m.DropColumn("RestoreBackupId", "databases");
        m.DropTable("backups");
    }
}
