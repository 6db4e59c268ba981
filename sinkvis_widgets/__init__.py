"""SinkVis notebook widgets: anywidget components and the dashboard behind ``SinkVis.show()``.

Each component is an :class:`anywidget.AnyWidget` whose front end is a bundled ESM module in
``static/`` (built from ``js/`` with ``npm run build``; no CDN request, ever).
"""

from __future__ import annotations

from .dashboard import Dashboard
from .heatmap import AttentionHeatmap
from .memory_panel import MemoryPanel
from .policy_comparison import PolicyComparison
from .selector import LayerHeadSelector

__all__ = ["AttentionHeatmap", "Dashboard", "LayerHeadSelector", "MemoryPanel", "PolicyComparison"]
