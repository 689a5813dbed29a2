"""The planner: desired vs live vs state → a frozen, reviewable Plan.

``graph`` orders resources by their references and finds cycles; ``diff``
compares canonical bodies field by field; ``plan`` holds the change objects
and the integrity-checked plan file; ``build`` puts them together.
"""
