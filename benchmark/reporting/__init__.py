"""From finished cells to what people read: tables, plots and the offline HTML report."""
