using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace HepDb.Data.Migrations;

/// <summary>Pack grants: +slots and +MB for a while, from an operator or a payment webhook (unique event id).</summary>
[DbContext(typeof(HepDbContext))]
[Migration("20261122000002_Packs")]
public sealed class Packs : Migration
{
    protected override void Up(MigrationBuilder m)
    {
        m.CreateTable("pack_grants", t => new
        {
            Id = t.Column<string>(maxLength: 26),
            AccountId = t.Column<string>(maxLength: 26),
            PackId = t.Column<string>(maxLength: 32),
            Slots = t.Column<int>(),
            StorageMb = t.Column<long>(),
            GrantedAt = t.Column<DateTime>(),
            ExpiresAt = t.Column<DateTime>(),
            Source = t.Column<string>(maxLength: 16),
            EventId = t.Column<string>(maxLength: 200, nullable: true),
        }, constraints: t =>
        {
            t.PrimaryKey("PK_pack_grants", x => x.Id);
            t.ForeignKey("FK_pack_grants_accounts_AccountId", x => x.AccountId, "accounts", "Id", onDelete: ReferentialAction.Cascade);
        });
        m.CreateIndex("IX_pack_grants_AccountId_ExpiresAt", "pack_grants", ["AccountId", "ExpiresAt"]);
        m.CreateIndex("IX_pack_grants_EventId", "pack_grants", "EventId", unique: true);
    }

    protected override void Down(MigrationBuilder m) => m.DropTable("pack_grants");
}
