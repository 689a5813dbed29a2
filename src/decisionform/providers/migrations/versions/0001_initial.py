"""Initial schema: every table of DESIGN §3.

Generated once by autogenerate from ``decisionform.providers.schema`` and
frozen: it must not import the application's code, so later edits to the
schema module never change what this migration creates.

Revision ID: 0001
Revises:
Create Date: 2026-12-03 17:21:15.905503
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
NOW = sa.text("CURRENT_TIMESTAMP")
LIVE = sa.text("deleted_at IS NULL")  # unique among rows not soft-deleted


def upgrade() -> None:
    op.create_table('tenants',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('sealing_key', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants')),
    sa.UniqueConstraint('name', name=op.f('uq_tenants_name'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('key_hash', sa.String(length=128), nullable=False),
    sa.Column('key_prefix', sa.String(length=20), nullable=False),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('expires_at', TIMESTAMP, nullable=True),
    sa.Column('revoked_at', TIMESTAMP, nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_api_keys_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_index(op.f('ix_api_keys_tenant_id'), 'api_keys', ['tenant_id'], unique=False)

    op.create_table('arbitration_profiles',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('labels', JSON, nullable=True),
    sa.Column('annotations', JSON, nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('updated_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('key', sa.String(length=100), nullable=True),
    sa.Column('weights', JSON, nullable=True),
    sa.Column('config', JSON, nullable=True),
    sa.Column('metrics', JSON, nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_arbitration_profiles_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_arbitration_profiles'))
    )
    op.create_index(op.f('ix_arbitration_profiles_tenant_id'), 'arbitration_profiles', ['tenant_id'], unique=False)
    op.create_index('uq_arbitration_profiles_tenant_id_key', 'arbitration_profiles', ['tenant_id', 'key'], unique=True, sqlite_where=LIVE, postgresql_where=LIVE)
    op.create_index('uq_arbitration_profiles_tenant_id_name', 'arbitration_profiles', ['tenant_id', 'name'], unique=True, sqlite_where=LIVE, postgresql_where=LIVE)

    op.create_table('audit_logs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity_type', sa.String(length=64), nullable=True),
    sa.Column('entity_name', sa.String(length=255), nullable=True),
    sa.Column('before', JSON, nullable=True),
    sa.Column('after', JSON, nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('prev_hash', sa.String(length=80), nullable=False),
    sa.Column('integrity_hash', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_audit_logs_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_logs'))
    )
    op.create_index(op.f('ix_audit_logs_tenant_id_action'), 'audit_logs', ['tenant_id', 'action'], unique=False)

    op.create_table('categories',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('labels', JSON, nullable=True),
    sa.Column('annotations', JSON, nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('updated_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('icon', sa.Text(), nullable=True),
    sa.Column('color', sa.Text(), nullable=True),
    sa.Column('ordinal', sa.Integer(), nullable=True),
    sa.Column('custom_fields', JSON, nullable=True),
    sa.Column('metrics', JSON, nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_categories_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories'))
    )
    op.create_index(op.f('ix_categories_tenant_id'), 'categories', ['tenant_id'], unique=False)
    op.create_index('uq_categories_tenant_id_name', 'categories', ['tenant_id', 'name'], unique=True, sqlite_where=LIVE, postgresql_where=LIVE)

    op.create_table('channels',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('labels', JSON, nullable=True),
    sa.Column('annotations', JSON, nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('updated_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('channel_type', sa.String(length=32), nullable=True),
    sa.Column('delivery_mode', sa.String(length=32), nullable=True),
    sa.Column('impression_mode', sa.String(length=32), nullable=True),
    sa.Column('coupling_mode', sa.String(length=32), nullable=True),
    sa.Column('provider_config', JSON, nullable=True),
    sa.Column('file_config', JSON, nullable=True),
    sa.Column('metrics', JSON, nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_channels_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channels'))
    )
    op.create_index(op.f('ix_channels_tenant_id'), 'channels', ['tenant_id'], unique=False)
    op.create_index('uq_channels_tenant_id_name', 'channels', ['tenant_id', 'name'], unique=True, sqlite_where=LIVE, postgresql_where=LIVE)

    op.create_table('contact_policies',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('labels', JSON, nullable=True),
    sa.Column('annotations', JSON, nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('updated_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('rule_type', sa.String(length=32), nullable=True),
    sa.Column('config', JSON, nullable=True),
    sa.Column('priority', sa.Integer(), nullable=True),
    sa.Column('scopes', JSON, nullable=True),
    sa.Column('metrics', JSON, nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_contact_policies_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_policies'))
    )
    op.create_index(op.f('ix_contact_policies_tenant_id'), 'contact_policies', ['tenant_id'], unique=False)
    op.create_index('uq_contact_policies_tenant_id_name', 'contact_policies', ['tenant_id', 'name'], unique=True, sqlite_where=LIVE, postgresql_where=LIVE)

    op.create_table('decision_flows',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('labels', JSON, nullable=True),
    sa.Column('annotations', JSON, nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('updated_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('key', sa.String(length=100), nullable=True),
    sa.Column('auto_assembly', sa.Boolean(), nullable=True),
    sa.Column('coupling_override', sa.String(length=32), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=True),
    sa.Column('nodes', JSON, nullable=True),
    sa.Column('metrics', JSON, nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_decision_flows_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decision_flows'))
    )
    op.create_index(op.f('ix_decision_flows_tenant_id'), 'decision_flows', ['tenant_id'], unique=False)
    op.create_index('uq_decision_flows_tenant_id_key', 'decision_flows', ['tenant_id', 'key'], unique=True, sqlite_where=LIVE, postgresql_where=LIVE)
    op.create_index('uq_decision_flows_tenant_id_name', 'decision_flows', ['tenant_id', 'name'], unique=True, sqlite_where=LIVE, postgresql_where=LIVE)

    op.create_table('drift_reports',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('summary', JSON, nullable=False),
    sa.Column('report', JSON, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_drift_reports_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drift_reports'))
    )
    op.create_index(op.f('ix_drift_reports_tenant_id_created_at'), 'drift_reports', ['tenant_id', 'created_at'], unique=False)

    op.create_table('gitops_locks',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('lock_id', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=255), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('operation', sa.String(length=64), nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=True),
    sa.Column('acquired_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('expires_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gitops_locks_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_gitops_locks')),
    sa.UniqueConstraint('lock_id', name=op.f('uq_gitops_locks_lock_id'))
    )
    op.create_table('gitops_state',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('lineage', sa.String(length=64), nullable=False),
    sa.Column('serial', sa.Integer(), nullable=False),
    sa.Column('document', JSON, nullable=False),
    sa.Column('applied_plan_ids', JSON, nullable=False),
    sa.Column('updated_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gitops_state_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_gitops_state'))
    )
    op.create_table('qualification_rules',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('labels', JSON, nullable=True),
    sa.Column('annotations', JSON, nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('updated_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('rule_type', sa.String(length=32), nullable=True),
    sa.Column('config', JSON, nullable=True),
    sa.Column('stage', sa.String(length=32), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=True),
    sa.Column('scopes', JSON, nullable=True),
    sa.Column('metrics', JSON, nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_qualification_rules_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qualification_rules'))
    )
    op.create_index(op.f('ix_qualification_rules_tenant_id'), 'qualification_rules', ['tenant_id'], unique=False)
    op.create_index('uq_qualification_rules_tenant_id_name', 'qualification_rules', ['tenant_id', 'name'], unique=True, sqlite_where=LIVE, postgresql_where=LIVE)

    op.create_table('placements',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('channel_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('position', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('slot_type', sa.String(length=32), nullable=True),
    sa.Column('max_slots', sa.Integer(), nullable=True),
    sa.Column('schema', JSON, nullable=True),
    sa.Column('targeting', JSON, nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('updated_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_placements_channel_id_channels')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_placements_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_placements'))
    )
    op.create_index(op.f('ix_placements_tenant_id'), 'placements', ['tenant_id'], unique=False)
    op.create_index('uq_placements_channel_id_name', 'placements', ['channel_id', 'name'], unique=True, sqlite_where=LIVE, postgresql_where=LIVE)

    op.create_table('sub_categories',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('labels', JSON, nullable=True),
    sa.Column('annotations', JSON, nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('updated_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('category_id', sa.String(length=40), nullable=True),
    sa.Column('icon', sa.Text(), nullable=True),
    sa.Column('ordinal', sa.Integer(), nullable=True),
    sa.Column('custom_fields', JSON, nullable=True),
    sa.Column('metrics', JSON, nullable=True),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_sub_categories_category_id_categories')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_sub_categories_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sub_categories'))
    )
    op.create_index(op.f('ix_sub_categories_tenant_id'), 'sub_categories', ['tenant_id'], unique=False)
    op.create_index('uq_sub_categories_tenant_id_name', 'sub_categories', ['tenant_id', 'name'], unique=True, sqlite_where=LIVE, postgresql_where=LIVE)

    op.create_table('offers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('labels', JSON, nullable=True),
    sa.Column('annotations', JSON, nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('updated_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('category_id', sa.String(length=40), nullable=True),
    sa.Column('sub_category_id', sa.String(length=40), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=True),
    sa.Column('business_value', sa.Float(), nullable=True),
    sa.Column('weight', sa.Integer(), nullable=True),
    sa.Column('mandatory', sa.Boolean(), nullable=True),
    sa.Column('short_desc', sa.Text(), nullable=True),
    sa.Column('tags', JSON, nullable=True),
    sa.Column('product_type', sa.Text(), nullable=True),
    sa.Column('margin', sa.Float(), nullable=True),
    sa.Column('revenue_value', sa.Float(), nullable=True),
    sa.Column('eligibility', JSON, nullable=True),
    sa.Column('budget', JSON, nullable=True),
    sa.Column('schedule', JSON, nullable=True),
    sa.Column('inventory', JSON, nullable=True),
    sa.Column('frequency_caps', JSON, nullable=True),
    sa.Column('custom_fields', JSON, nullable=True),
    sa.Column('metadata', JSON, nullable=True),
    sa.Column('metrics', JSON, nullable=True),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_offers_category_id_categories')),
    sa.ForeignKeyConstraint(['sub_category_id'], ['sub_categories.id'], name=op.f('fk_offers_sub_category_id_sub_categories')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_offers_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers'))
    )
    op.create_index(op.f('ix_offers_tenant_id'), 'offers', ['tenant_id'], unique=False)
    op.create_index('uq_offers_tenant_id_name', 'offers', ['tenant_id', 'name'], unique=True, sqlite_where=LIVE, postgresql_where=LIVE)

    op.create_table('creatives',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('labels', JSON, nullable=True),
    sa.Column('annotations', JSON, nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('updated_at', TIMESTAMP, server_default=NOW, nullable=False),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('offer_id', sa.String(length=40), nullable=True),
    sa.Column('channel_id', sa.String(length=40), nullable=True),
    sa.Column('placement_id', sa.String(length=40), nullable=True),
    sa.Column('template_type', sa.String(length=32), nullable=True),
    sa.Column('content', JSON, nullable=True),
    sa.Column('personalization', JSON, nullable=True),
    sa.Column('constraints', JSON, nullable=True),
    sa.Column('ab_test_variant', sa.Text(), nullable=True),
    sa.Column('weight', sa.Integer(), nullable=True),
    sa.Column('metrics', JSON, nullable=True),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_creatives_channel_id_channels')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_creatives_offer_id_offers')),
    sa.ForeignKeyConstraint(['placement_id'], ['placements.id'], name=op.f('fk_creatives_placement_id_placements')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_creatives_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_creatives'))
    )
    op.create_index(op.f('ix_creatives_tenant_id'), 'creatives', ['tenant_id'], unique=False)
    op.create_index('uq_creatives_tenant_id_name', 'creatives', ['tenant_id', 'name'], unique=True, sqlite_where=LIVE, postgresql_where=LIVE)


def downgrade() -> None:
    op.drop_table('creatives')
    op.drop_table('offers')
    op.drop_table('sub_categories')
    op.drop_table('placements')
    op.drop_table('qualification_rules')
    op.drop_table('gitops_state')
    op.drop_table('gitops_locks')
    op.drop_table('drift_reports')
    op.drop_table('decision_flows')
    op.drop_table('contact_policies')
    op.drop_table('channels')
    op.drop_table('categories')
    op.drop_table('audit_logs')
    op.drop_table('arbitration_profiles')
    op.drop_table('api_keys')
    op.drop_table('tenants')
