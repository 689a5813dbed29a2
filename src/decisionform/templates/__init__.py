"""Rendering of plans and drift reports: terminal text, pull-request markdown, JSON.

The jinja2 templates (``*.j2``) and the published JSON Schemas
(``plan.v1.schema.json``, ``drift.v1.schema.json``) live in this folder;
``render`` holds the helpers. See ``docs/plan-json.md`` for the JSON format.
"""

from decisionform.templates.render import (
    DRIFT_SCHEMA,
    MARKDOWN_LIMIT,
    MISSING,
    PLAN_SCHEMA,
    field_changes,
    render_drift,
    render_plan,
    value_at,
)

__all__ = [
    "DRIFT_SCHEMA",
    "MARKDOWN_LIMIT",
    "MISSING",
    "PLAN_SCHEMA",
    "field_changes",
    "render_drift",
    "render_plan",
    "value_at",
]
